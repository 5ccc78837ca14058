"""Each renderer against its controller's own template at the pinned release: the lines the
template writes for client verification, copied from the template source as read there."""

from __future__ import annotations

from pathlib import Path

from nginx_mtls_lint.kubernetes import Inputs


def rendered_server(tmp_path: Path, manifests: str, host: str) -> list[str]:
    path = tmp_path / "manifests.yaml"
    path.write_text(manifests)
    inputs = Inputs()
    inputs.add(str(path), str(path), True)
    (rendering,) = inputs.render()
    lines = [line.strip() for line in rendering.text.splitlines()]
    start = lines.index(f"server_name {host};")
    while lines[start] != "server {":
        start -= 1
    depth, end = 0, start
    for end in range(start, len(lines)):
        depth += lines[end].endswith("{") - (lines[end] == "}")
        if depth == 0:
            break
    return lines[start:end + 1]


def in_order(expected: list[str], lines: list[str]) -> bool:
    position = 0
    for line in lines:
        if position < len(expected) and line == expected[position]:
            position += 1
    return position == len(expected)


SECRET = """---
apiVersion: v1
kind: Secret
metadata: {name: ca-secret, namespace: default}
stringData:
  ca.crt: |
    -----BEGIN CERTIFICATE-----
    MIIB
    -----END CERTIFICATE-----
"""


def test_ingress_nginx_matches_its_template(tmp_path: Path):
    """kubernetes/ingress-nginx controller-v1.15.1 (dbb11b92): docs/examples/auth/client-certs/
    ingress.yaml rendered by rootfs/etc/nginx/template/nginx.tmpl (define "SERVER": PEM sha
    comment, ssl_client_certificate, ssl_verify_client, ssl_verify_depth, error_page 495 496;
    the location's "Pass the extracted client certificate to the backend" headers)."""
    example = """apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  annotations:
    nginx.ingress.kubernetes.io/auth-tls-verify-client: "on"
    nginx.ingress.kubernetes.io/auth-tls-secret: "default/ca-secret"
    nginx.ingress.kubernetes.io/auth-tls-verify-depth: "1"
    nginx.ingress.kubernetes.io/auth-tls-error-page: "http://www.mysite.com/error-cert.html"
    nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream: "true"
  name: nginx-test
  namespace: default
spec:
  ingressClassName: nginx
  rules:
  - host: mydomain.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: http-svc, port: {number: 80}}}
  tls:
  - hosts: [mydomain.com]
    secretName: tls-secret
"""
    lines = rendered_server(tmp_path, example + SECRET, "mydomain.com")
    assert in_order([
        "listen 80;", "listen 443 ssl;",
        "ssl_client_certificate /etc/ingress-controller/ssl/ca-default-ca-secret.pem;",
        "ssl_verify_client on;",
        "ssl_verify_depth 1;",
        "error_page 495 496 = http://www.mysite.com/error-cert.html;",
        "location / {",
        "proxy_set_header ssl-client-cert $ssl_client_escaped_cert;",
        "proxy_set_header ssl-client-verify $ssl_client_verify;",
        "proxy_set_header ssl-client-subject-dn $ssl_client_s_dn;",
        "proxy_set_header ssl-client-issuer-dn $ssl_client_i_dn;",
    ], lines), lines


def test_ingress_nginx_defaults_and_invalid_values(tmp_path: Path):
    """authtls/main.go: verify-client absent or invalid -> on; depth absent, invalid or 0 ->
    1; no error_page without the annotation; no headers but the three without pass-certificate."""
    example = """apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  annotations:
    nginx.ingress.kubernetes.io/auth-tls-verify-client: required
    nginx.ingress.kubernetes.io/auth-tls-secret: default/ca-secret
    nginx.ingress.kubernetes.io/auth-tls-verify-depth: "0"
  name: t
  namespace: default
spec:
  rules:
  - host: t.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: s, port: {number: 80}}}}]}
"""
    lines = rendered_server(tmp_path, example + SECRET, "t.example.com")
    assert "ssl_verify_client on;" in lines and "ssl_verify_depth 1;" in lines
    assert not any(line.startswith(("error_page", "proxy_set_header ssl-client-cert"))
                   for line in lines)


def test_gateway_fabric_matches_its_servers_template(tmp_path: Path):
    """nginxinc/nginx-gateway-fabric e55bfe33 internal/controller/nginx/config/
    servers_template.go: ssl_client_certificate, ssl_verify_client, and with
    RequireVerifiedCert `ssl_verify_depth 4; error_page 495 496 = @frontend_tls_verify_failed;`
    and `location @frontend_tls_verify_failed { return 444; }`; the bundle file name of
    generator.go generateCertBundleFileName (cert_bundle_<ns>_<gateway>_<port>.crt)."""
    gateway = """apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: ns}
spec:
  gatewayClassName: nginx
  tls: {frontend: {default: {validation: {caCertificateRefs: [{kind: ConfigMap, name: ca}]}}}}
  listeners:
  - {name: https, port: 443, protocol: HTTPS, hostname: a.example.com}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: ns}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: s, port: 80}]}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ca, namespace: ns}
data:
  ca.crt: x
"""
    lines = rendered_server(tmp_path, gateway, "a.example.com")
    assert in_order(["listen 443 ssl;",
                     "ssl_client_certificate /etc/nginx/secrets/cert_bundle_ns_gw_443.crt;",
                     "ssl_verify_client on;", "ssl_verify_depth 4;",
                     "error_page 495 496 = @frontend_tls_verify_failed;",
                     "location @frontend_tls_verify_failed {", "return 444;"], lines), lines
    fallback = gateway.replace("validation: {", "validation: {mode: AllowInsecureFallback, ")
    (tmp_path / "fb").mkdir()
    lines = rendered_server(tmp_path / "fb", fallback, "a.example.com")
    assert "ssl_verify_client optional_no_ca;" in lines
    assert not any(line.startswith(("ssl_client_certificate", "error_page")) for line in lines)


def test_nic_matches_its_virtualserver_template(tmp_path: Path):
    """nginx/kubernetes-ingress 0eb3072d internal/configs/version2/nginx.virtualserver.tmpl:
    `listen 80;` always, ssl_client_certificate /etc/nginx/secrets/<ns>-<secret>-ca.crt,
    ssl_verify_client, ssl_verify_depth from the Policy's ingressMTLS; no redirect without
    tls.redirect.enable."""
    manifests = """apiVersion: k8s.nginx.org/v1
kind: VirtualServer
metadata: {name: webapp, namespace: ns}
spec:
  host: webapp.example.com
  tls: {secret: tls-secret}
  policies: [{name: mtls}]
  upstreams: [{name: webapp, service: webapp-svc, port: 80}]
  routes: [{path: /, action: {pass: webapp}}]
---
apiVersion: k8s.nginx.org/v1
kind: Policy
metadata: {name: mtls, namespace: ns}
spec: {ingressMTLS: {clientCertSecret: ca, verifyClient: "optional", verifyDepth: 2}}
"""
    lines = rendered_server(tmp_path, manifests, "webapp.example.com")
    assert in_order(["listen 80;", "listen 443 ssl;",
                     "ssl_client_certificate /etc/nginx/secrets/ns-ca-ca.crt;",
                     "ssl_verify_client optional;", "ssl_verify_depth 2;", "location / {"],
                    lines), lines
    assert not any(line.startswith("if ") for line in lines)
