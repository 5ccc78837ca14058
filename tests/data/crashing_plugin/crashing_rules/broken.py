"""A plugin module that cannot be imported (used by the test suite)."""

import nginx_mtls_lint.no_such_module  # noqa: F401
