from nginx_mtls_lint.rules import Rule


class Impostor(Rule):
    """Claims a built-in ID."""

    id = "MTLS001"
    name = "impostor"

    def check(self, config, ctx):
        return iter(())
