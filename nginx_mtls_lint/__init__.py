"""nginx-mtls-lint: prove that client-certificate-protected nginx vhosts cannot be bypassed."""

__version__ = "0.1.0"

# Where the rule pages (rules/ID.md) are published; SARIF links each rule to its page there.
HOMEPAGE = "https://github.com/nginx-mtls-lint/nginx-mtls-lint"
RULES_URL = HOMEPAGE + "/blob/main/rules/"
