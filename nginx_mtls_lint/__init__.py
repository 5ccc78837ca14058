"""nginx-mtls-lint: prove that client-certificate-protected nginx vhosts cannot be bypassed."""

__version__ = "0.1.0"
