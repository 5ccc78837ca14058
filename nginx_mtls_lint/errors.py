"""The command line's own error, apart from the modules that raise it: `--version` and a
usage error are answered without importing the loader."""


class UsageError(Exception):
    """Bad input named on the command line: exit 2 with this message."""
