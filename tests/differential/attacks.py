"""The requests sent to each generated configuration, as request.Request records.

An attacker controls everything end to end: the port, the bytes before TLS (a PROXY protocol
header naming any address), the SNI (absent, another name, the site's name in every spelling
nginx normalises), the certificate (none, self-signed, self-signed with the trusted CA's
name, another CA's), resuming a TLS 1.3 session made without SNI or for another name, HTTP/1.1
or HTTP/2, the request line and Host in their spellings, the method, any header (real-IP
headers claiming a Cloudflare or an internal address). The valid client holds the expected
CA's certificate and comes from a Cloudflare edge.

`plan(gen, budget, seed)` gives a core that always runs (each certificate kind, with and
without SNI, on each port) and, up to `budget`, a seeded sample of the rest.
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass

from nginx_mtls_lint.request import Request

from .configs import SITE, Generated

ATTACKER_CERTIFICATES = ("none", "self-signed", "self-signed-trusted-dn", "other-ca")
SNIS = (SITE, None, "APP.EXAMPLE.COM", SITE + ".", "www.example.com", "other.example.net")
HOSTS = (None, SITE, "APP.Example.COM", SITE + ":443", SITE + ".", "other.example.net")
METHODS = ("GET", "GET", "GET", "POST", "HEAD", "PROPFIND")
SPOOFS = ((), (("CF-Connecting-IP", "173.245.48.77"),), (("X-Forwarded-For", "10.1.2.3"),),
          (("X-Forwarded-For", "127.0.0.1"),), (("X-Real-IP", "203.0.113.9"),))
OTHER_DIRECT = ("198.51.100.8", "198.51.100.9")  # (test_flow_labels.OTHER_DIRECT)
OTHER = "other.example.net"  # a name no server of the site has
# What a real-IP header claims: a Cloudflare edge, internal networks, this host
SPOOFED = ("173.245.48.77", "10.1.2.3", "192.168.1.2", "127.0.0.1")
PROXY_SOURCES = ("173.245.48.77", "10.1.2.3", "127.0.0.1", "198.51.100.7")


@dataclass(frozen=True)
class Probe:
    """A request and where it goes: `valid` marks the legitimate client's requests."""

    port: int
    request: Request
    valid: bool = False

    def __str__(self) -> str:
        return f":{self.port} {self.request.describe()}"


def spoof_all(address: str) -> tuple[tuple[str, str], ...]:
    return tuple((name, address) for name in ("CF-Connecting-IP", "X-Forwarded-For",
                                                "X-Real-IP"))


def proxy_header(source: str, port: int) -> bytes:
    return f"PROXY TCP4 {source} 192.0.2.10 40000 {port}\r\n".encode()


def literal_names(text: str) -> list[str]:
    """The server names of `text` a Host header can spell as written (no regex or wildcard)."""
    names = [n for line in re.findall(r"^\s*server_name\s+([^;]*);", text, re.M)
             for n in line.split()]
    return sorted({n.lower() for n in names if not n.startswith(("~", "*", ".")) and
                   not n.endswith("*")})


def core(gen: Generated) -> list[Probe]:
    """What runs whatever the budget."""
    found = []
    for port in gen.tls_ports:
        before = proxy_header("198.51.100.7", port) if port in gen.proxy_protocol_ports else b""
        for certificate, sni in itertools.product(ATTACKER_CERTIFICATES, (SITE, None)):
            found.append(Probe(port, Request(sni=sni, certificate=certificate, host=SITE,
                                             before_tls=before)))
        # through Cloudflare from another zone, every URI: an edge address with no
        # certificate, or with one the other zone uploaded (per-hostname authenticated
        # origin pulls present any certificate its owner holds), one kind per URI in turn
        found += [Probe(port, Request(source="cloudflare", sni=SITE, host=SITE, target=uri,
                                      certificate=certificate, before_tls=before))
                  for index, uri in enumerate(gen.uris)
                  for certificate in ("none", ATTACKER_CERTIFICATES[1 + index % 3])]
        # a scanner of the address: another name (or none) reaches the socket's default server
        found += [Probe(port, Request(sni=sni, host=OTHER, before_tls=before))
                  for sni in (OTHER, None)]
        # every name a server of the configuration answers to, even "_", as Host
        found += [Probe(port, Request(host=name, before_tls=before))
                  for name in literal_names(gen.text) if name != SITE]
        found += [Probe(port, Request(sni=name, certificate="other-ca", host=name,
                                      before_tls=before)) for name in gen.other_names]
        found.append(Probe(port, Request(tls=False, host=SITE, before_tls=before)))
        # every real-IP header claiming a Cloudflare edge, then an internal address, on
        # every URI
        found += [Probe(port, Request(sni=SITE, certificate=certificate, host=SITE,
                                      target=uri, before_tls=before,
                                      headers=spoof_all(address)))
                  for certificate in ("none", "other-ca")
                  for index, uri in enumerate(gen.uris)
                  for address in (SPOOFED if index == 0 else
                                  SPOOFED[index % 2::2])]  # half of them past "/"
        found += [Probe(port, Request(sni=SITE, certificate=certificate, host=SITE,
                                      target=uri, before_tls=before))
                  for uri in gen.uris[1:] for certificate in ATTACKER_CERTIFICATES]
        # another method, where the configuration tells methods apart (limit_except: every
        # method but those it lists takes the block's configuration)
        if "limit_except" in gen.text or "$request_method" in gen.text:
            found += [Probe(port, Request(sni=SITE, certificate=certificate, host=SITE,
                                          method="POST", target=uri, before_tls=before))
                      for uri in gen.uris for certificate in ("none", "other-ca")]
        # the attacker picks its address too (what split_clients or a hash of it chooses)
        found += [Probe(port, Request(source=source, sni=SITE, certificate="other-ca",
                                      host=SITE, target=uri, before_tls=before))
                  for uri in gen.uris for source in OTHER_DIRECT]
    for port in gen.plain_ports:
        found += [Probe(port, Request(tls=False, host=SITE, source=source))
                  for source in ("direct", "cloudflare")]
        found += [Probe(port, Request(tls=False, host=SITE, target=uri)) for uri in gen.uris[1:]]
        found.append(Probe(port, Request(tls=False, host=OTHER)))
    return found


def valid_probes(gen: Generated) -> list[Probe]:
    found = []
    for port in gen.tls_ports:
        before = proxy_header("173.245.48.5", port) if port in gen.proxy_protocol_ports else b""
        found += [Probe(port, Request(source="cloudflare", sni=SITE, certificate="valid",
                                      target=uri, host=SITE, before_tls=before), valid=True)
                  for uri in gen.uris[:6]]
    if gen.tunnel:
        found += [Probe(8081, Request(source="loopback", tls=False, target=uri, host=SITE),
                        valid=True) for uri in gen.uris[:6]]
    return found


def extra(gen: Generated, rng: random.Random) -> Probe:
    """One request with every attacker choice drawn at random."""
    ports = gen.tls_ports + gen.plain_ports
    port = rng.choice(ports)
    tls = port in gen.tls_ports and rng.random() < 0.9
    before = b""
    if port in gen.proxy_protocol_ports:
        before = proxy_header(rng.choice(PROXY_SOURCES), port)
    target = rng.choice(gen.uris)
    if rng.random() < 0.05:
        target = f"http://{SITE}{target}"  # the absolute form: its host wins over Host
    fields: dict = dict(source=rng.choice(("direct", "direct", "cloudflare")), before_tls=before,
                        tls=tls, target=target, method=rng.choice(METHODS),
                        host=rng.choice(HOSTS + tuple(gen.other_names)),
                        headers=rng.choice(SPOOFS))
    if tls:
        fields.update(sni=rng.choice(SNIS + tuple(gen.other_names)),
                      certificate=rng.choice(ATTACKER_CERTIFICATES))
        if rng.random() < 0.15:
            fields["resume_from"] = rng.choice(["", *gen.other_names, "www.example.com"])
        if port in gen.h2_ports and rng.random() < 0.3:
            fields["protocol"] = "h2"
    if fields["host"] is None and not tls:
        fields["host"] = SITE
    return Probe(port, Request(**fields))


def plan(gen: Generated, budget: int, seed: int) -> list[Probe]:
    """Core, valid and sampled requests: at most `budget` beyond the valid client's."""
    rng = random.Random(seed)
    found = core(gen)
    seen = {str(p) for p in found}
    tries = 0
    while len(found) < budget and tries < budget * 4:
        tries += 1
        probe = extra(gen, rng)
        if str(probe) not in seen:
            seen.add(str(probe))
            found.append(probe)
    return found[:max(budget, len(core(gen)))] + valid_probes(gen)
