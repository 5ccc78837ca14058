"""What a TLS session resumed on a shared address:port does, per nginx version (facts §6,
CVE-2025-23419): the one answer MTLS105 explains and `probe --from-config` predicts from.

Before nginx 1.29.2 the socket's default server decides the handshake's protocols and
sessions. A TLS 1.3 session resumed under another server's name carries the verification
of the server that made it:
- affected nginx (upstream 1.11.4 to 1.27.3 but 1.26.3+): always ("crosses");
- fixed nginx up to 1.29.1 (1.26.3+, 1.27.4+, backports such as Debian 12's): a session
  made with a name is refused (alert access_denied) when the server the new SNI names
  verifies clients; a session made without a name still crosses ("named-refused");
- 1.29.2 and later: the server is chosen first; no crossing, a full handshake ("full").
"""

from __future__ import annotations

from .model import TlsServer
from .records import Setting
from .versions import Target

NO_CACHE = ("off", "none")


def tls13(decider: TlsServer | None, target: Target) -> tuple[bool | None, Setting | None]:
    """Whether TLS 1.3 is on for the socket whose default server is `decider` (None:
    unknown), and the `ssl_protocols` that says so (None: the version's default)."""
    setting = decider.setting("ssl_protocols") if decider else None
    if setting is not None:
        return "TLSv1.3" in setting.stmt.args, setting
    return target.tls13_default, None


def resumes(decider: TlsServer | None, maker: TlsServer) -> tuple[bool, Setting | None]:
    """Whether a session made with `maker` can be resumed on the socket whose default
    server is `decider`, and the default server's `ssl_session_cache` that resumes it (None:
    session tickets, on by default, or no resumption)."""
    cache = decider.setting("ssl_session_cache") if decider else None
    if cache is not None and cache.value not in NO_CACHE:
        return True, cache
    for server in (decider, maker):
        tickets = server.setting("ssl_session_tickets") if server else None
        if tickets is not None and tickets.value == "off":
            return False, None
    return True, None


def crossing(target: Target) -> tuple[str, str]:
    """What a TLS 1.3 session resumed under another server's name does on this nginx:
    "crosses", "named-refused", "full" or "unknown" (module docstring), and why."""
    if target.picks_server_before_resumption:
        return "full", (f"nginx {'.'.join(map(str, target.upstream or ()))} chooses the "
                        "server before resuming (1.29.2+): a full handshake")
    verdict = target.cve_2025_23419
    if verdict.state == "affected":
        return "crosses", verdict.reason
    if verdict.state == "fixed" and target.picks_server_before_resumption is False:
        return "named-refused", verdict.reason
    return "unknown", verdict.reason
