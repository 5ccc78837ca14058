from __future__ import annotations

from typing import Iterator

from ..findings import Finding, Related
from ..model import Config, Server, Socket
from ..parser import Stmt
from . import Rule, RuleContext, cloudflare_evidence
from .fixes import reject_handshake_default


TWIN = {"0.0.0.0": "[::]", "[::]": "0.0.0.0"}  # the wildcard addresses of one port


class DefaultServerExposesOrigin(Rule):
    """The default server completes TLS handshakes without SNI, revealing the origin to scanners.

    ## Why
    Internet-wide scanners (Censys, Shodan) connect to every IPv4 address on 443 without
    SNI and record the certificate they get. If the default server on a socket that carries
    a Cloudflare-fronted site answers with a certificate for your names, the origin's IP is
    one search away, and every other bypass becomes reachable. `ssl_reject_handshake on` in
    the default server ends the handshake for clients that send no known name. Hardening
    advice, reported as a note. In a fragment linted alone only an explicit `default_server`
    counts, since another file may hold the socket's default.

    ## Example
    ```nginx
    server {
        listen 443 ssl default_server;  # expect: MTLS103
        server_name www.example.com;
        ssl_certificate     /etc/nginx/certs/server.pem;
        ssl_certificate_key /etc/nginx/certs/server.key;
        real_ip_header CF-Connecting-IP;
        ssl_client_certificate /etc/nginx/certs/origin-pull-ca.pem;
        ssl_verify_client on;
    }
    ```

    ## Fix
    ```nginx
    server {
        listen 443 ssl default_server;
        ssl_reject_handshake on;
    }
    ```

    ## Verified
    With nginx 1.22.1 (Debian 12, OpenSSL 3.0) on loopback: a handshake without SNI
    completes and shows the server's certificate; with `ssl_reject_handshake on` in the
    default server it fails.
    Reproduce: `pytest -m nginx -k MTLS103`.
    """

    id = "MTLS103"
    name = "default-server-exposes-origin"
    severity = "note"
    tags = ("security", "cloudflare", "hardening", "external/cwe/cwe-200")
    security_severity = "3.1"
    precision = "medium"

    def __init__(self) -> None:
        self._defaults: tuple[Config | None, dict[int, list[Stmt]]] = (None, {})

    def check_socket(self, socket: Socket[Server], config: Config,
                     ctx: RuleContext) -> Iterator[Finding]:
        exposed = self._exposed(socket, config)
        if exposed is None:
            return
        fronted, default = exposed
        listen = socket.default_listen[1]
        # The same default server on 0.0.0.0:P and [::]:P is one cause: one finding (on the
        # IPv4 socket), one fix that writes one default server with both listens.
        twin = config.sockets.get(TWIN.get(socket.name.rsplit(":", 1)[0], "") + ":" +
                                  socket.name.rsplit(":", 1)[-1])
        twin_listen, twin_name = None, ""
        if twin is not None and twin is not socket and self._exposed(twin, config) is not None \
                and config.known_default(twin) is default:
            if socket.name.startswith("["):
                return  # reported on the IPv4 socket
            twin_listen, twin_name = twin.default_listen[1], twin.name
        whose = "its own" if default is fronted else f"{default.title}'s"
        lacking = ctx.target.lacks("ssl_reject_handshake")
        fix = (f"Add a default server: server {{ listen {listen.stmt.args[0]} ssl "
               "default_server; ssl_reject_handshake on; }")
        if lacking:  # only what the target has
            fix = (f"Upgrade nginx to 1.19.4 or later for `ssl_reject_handshake on;` in a "
                   f"default server ({lacking}); until then give the socket a default "
                   "server whose certificate names none of your hosts.")
        addresses = socket.name if twin_listen is None else f"{socket.name} and {twin_name}"
        listens = [listen.stmt] + ([twin_listen.stmt] if twin_listen is not None else [])
        if twin_listen is not None and not lacking:
            fix = fix.replace("ssl default_server;", f"ssl default_server; listen "
                              f"{twin_listen.stmt.args[0]} ssl default_server;")
        yield self.finding(
            listen.stmt,
            f"A client that sends no SNI to {addresses} completes the handshake with "
            f"{whose} certificate: scanners of the address space read it and find the "
            f"origin of Cloudflare-fronted {fronted.title}.",
            fix, default,
            related=[Related(fronted.file, fronted.line,
                             f"Cloudflare-fronted {fronted.title}"),
                     *cloudflare_evidence(fronted),
                     *([Related(twin_listen.stmt.file, twin_listen.stmt.line,
                                f"the same default server on {twin_name}")]
                       if twin_listen is not None else [])],
            fixes=[] if lacking else reject_handshake_default(
                ctx.source, default.stmt, *self._defaults_of(config).get(id(default), listens)))

    def _defaults_of(self, config: Config) -> dict[int, list[Stmt]]:
        """id(default server) -> the `listen` that makes it the default of each exposed
        socket, found once per configuration: one fix writes one default server for all of
        them (a server that is the default of :80 and :443 gets one new block, not two
        blocks inserted at one place, which --diff cannot order)."""
        if self._defaults[0] is not config:
            found: dict[int, list[Stmt]] = {}
            for socket in config.sockets.values():
                exposed = self._exposed(socket, config)
                if exposed is not None:
                    found.setdefault(id(exposed[1]), []).append(socket.default_listen[1].stmt)
            self._defaults = (config, found)
        return self._defaults[1]

    @staticmethod
    def _exposed(socket: Socket[Server], config: Config) -> tuple[Server, Server] | None:
        """(a Cloudflare-fronted server, the default server) of a TLS socket other hosts
        reach whose default server completes handshakes without SNI, else None."""
        if not socket.tls or not config.exposed(socket.name):
            return None
        fronted = next((s for s in socket.servers if s.cloudflare.fronted), None)
        default = config.known_default(socket)
        if fronted is None or default is None or default.rejects_handshakes_without_sni:
            return None
        return fronted, default
