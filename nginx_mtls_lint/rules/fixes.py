"""Fix texts shared by several rules."""

AOP_CA_PATH = "/etc/nginx/certs/origin-pull-ca.pem"
ENFORCE_AOP = (
    f"ssl_client_certificate {AOP_CA_PATH};  # Cloudflare origin-pull CA\n"
    "ssl_verify_client on;"
)
AOP_CA_SOURCE = (
    "Cloudflare's origin-pull CA is published at "
    "https://developers.cloudflare.com/ssl/static/authenticated_origin_pull_ca.pem "
    "(SHA-256 9A:1A:C2:B4:...:A2:B9)."
)
SERVER_HANDLER = "if ($ssl_client_verify != SUCCESS) { return 403; }"
