"""The nginx a configuration is judged for: its version, where that came from, and the
version-dependent answers rules ask (directives it has, TLS 1.3 by default, CVE-2025-23419).

A target comes from `--nginx-version` / `nginx-version:` (an upstream version such as 1.26.2,
or a distribution package version such as 1.22.1-9+deb12u9, 1.18.0-6ubuntu14.6 or
debian:12/1.22.1-9+deb12u9), from `nginx -V` lines placed before an `nginx -T` dump, or, when
the live /etc/nginx of this machine is linted, from `nginx -V` and the package manager. The
facts (boundaries, fixed package versions, their sources) are in data/nginx-versions.json.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

UPSTREAM = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
# epoch:upstream-revision, e.g. 1.22.1-9+deb12u9, 1:1.18.0-6ubuntu14.6, 1.20.1-14.el9_2.1
PACKAGE = re.compile(r"^(?:\d+:)?(\d+\.\d+\.\d+)-([0-9A-Za-z.+~_-]+)$")
QUALIFIED = re.compile(r"^([a-z]+):([0-9.]+)/(.+)$")  # debian:12/1.22.1-9+deb12u9
NGINX_V = re.compile(r"^nginx version: [^/\s]+/(\d+\.\d+\.\d+)", re.MULTILINE)
OPENSSL_V = re.compile(r"^built with (\S+ [^\s(]+)", re.MULTILINE)
CONFIGURE_V = re.compile(r"^configure arguments: (.*)$", re.MULTILINE)
# Configure arguments that show a distribution's build (its patches are unknown from -V).
DISTRIBUTION_MARKERS = (
    (re.compile(r"-f(?:file|debug)-prefix-map=/build/"), "Debian/Ubuntu"),
    (re.compile(r"--prefix=/usr/share/nginx\b"), "Debian/Ubuntu"),
    (re.compile(r"/usr/lib/rpm/|/builddir/build/|rpmbuild"), "an RPM distribution"),
    (re.compile(r"--prefix=/var/lib/nginx\b"), "Alpine"),
)
LIVE_ROOT = "/etc/nginx/"  # a tree read from here is this machine's live configuration
SYSTEM_PATH = ("/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin")

Version = tuple[int, int, int]


class VersionError(ValueError):
    """A version string the tool cannot read."""


def parse_upstream(text: str) -> Version:
    match = UPSTREAM.match(text.strip())
    if not match:
        raise VersionError(f"expected an nginx version such as 1.26.2, got {text!r}")
    return tuple(int(part) for part in match.groups())  # type: ignore[return-value]


def shown(version: Version) -> str:
    return ".".join(map(str, version))


@functools.cache
def facts() -> dict[str, Any]:
    with open(Path(__file__).with_name("data") / "nginx-versions.json", encoding="utf-8") as f:
        loaded: dict[str, Any] = json.load(f)
    return loaded


# --------------------------------------------------------------------------- dpkg ordering

def _order(char: str) -> int:
    if char == "~":
        return -1
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _run_of(pattern: str, text: str) -> str:
    found = re.match(pattern, text)
    return found.group() if found else ""


def _compare_part(a: str, b: str) -> int:
    """dpkg's verrevcmp: alternate non-digit runs (letters first, ~ before all) and numbers."""
    while a or b:
        a_text = _run_of(r"[^0-9]*", a)
        b_text = _run_of(r"[^0-9]*", b)
        for i in range(max(len(a_text), len(b_text))):
            ca = _order(a_text[i]) if i < len(a_text) else 0
            cb = _order(b_text[i]) if i < len(b_text) else 0
            if ca != cb:
                return -1 if ca < cb else 1
        a, b = a[len(a_text):], b[len(b_text):]
        a_num = _run_of(r"[0-9]*", a)
        b_num = _run_of(r"[0-9]*", b)
        if int(a_num or 0) != int(b_num or 0):
            return -1 if int(a_num or 0) < int(b_num or 0) else 1
        a, b = a[len(a_num):], b[len(b_num):]
    return 0


def compare_packages(a: str, b: str) -> int:
    """Order two Debian package versions as dpkg does (-1, 0, 1)."""
    def split(v: str) -> tuple[int, str, str]:
        epoch, _, rest = v.rpartition(":") if ":" in v else ("0", "", v)
        upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "0")
        return int(epoch or 0), upstream, revision

    ea, ua, ra = split(a)
    eb, ub, rb = split(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _compare_part(ua, ub) or _compare_part(ra, rb)


# --------------------------------------------------------------------------- the target

@dataclass(frozen=True, slots=True)
class Verdict:
    """A version-dependent answer: "affected", "fixed" or "unknown", and why."""

    state: str
    reason: str

    @property
    def affected(self) -> bool:
        return self.state == "affected"


@dataclass(frozen=True, slots=True)
class Target:
    """The nginx a configuration is judged for. `upstream` None: unknown version."""

    upstream: Version | None = None
    package: str | None = None  # distribution package version, when known
    distribution: str | None = None  # "debian", "ubuntu", "rpm", "alpine", ...
    release: str | None = None  # "12", "22.04"
    # A distribution's build whose package version is unknown: its patches are unknown.
    distribution_build: str | None = None
    openssl: str | None = None  # "OpenSSL 3.0.22", from `built with`
    source: str = "not given"
    # CVEs whose fix a vendor build carries on an affected version (ingress-nginx's 1.27.1)
    patched: frozenset[str] = frozenset()

    @property
    def known(self) -> bool:
        return self.upstream is not None

    def describe(self) -> str:
        if self.upstream is None:
            return f"nginx version unknown ({self.source})"
        text = f"nginx {shown(self.upstream)}"
        if self.package:
            where = " ".join(p for p in (self.distribution, self.release) if p)
            text += f" (package {self.package}{', ' + where if where else ''})"
        elif self.distribution_build:
            text += f" ({self.distribution_build} build, patch level unknown)"
        return f"{text}, from {self.source}"

    def as_dict(self) -> dict[str, Any]:
        return {"version": shown(self.upstream) if self.upstream else None,
                "package": self.package, "distribution": self.distribution,
                "release": self.release, "build": self.distribution_build,
                "openssl": self.openssl, "source": self.source,
                "patch_level_known": self.package is not None or (
                    self.known and self.distribution_build is None)}

    def at_least(self, version: str) -> bool | None:
        """Whether the target is `version` or newer; None when the version is unknown."""
        return None if self.upstream is None else self.upstream >= parse_upstream(version)

    def has(self, directive: str) -> bool | None:
        """Whether the target knows `directive` (True for directives with no recorded
        boundary); None when the version is unknown and the directive has a boundary."""
        entry = facts()["directives"].get(directive)
        if entry is None:
            return True
        if "since" in entry and self.at_least(entry["since"]) is False:
            return False
        if "until" in entry and self.at_least(entry["until"]):
            return False
        return None if self.upstream is None else True

    def lacks(self, directive: str) -> str | None:
        """Why a fix cannot use `directive` on this nginx; None when it can (or may)."""
        if self.has(directive) is not False or self.upstream is None:
            return None
        entry = facts()["directives"][directive]
        when = (f"added in {entry['since']}" if "since" in entry
                else f"removed in {entry['until']}")
        return f"nginx {shown(self.upstream)} has no `{directive}` ({when})"

    @property
    def tls13_default(self) -> bool | None:
        """TLS 1.3 enabled when no ssl_protocols says otherwise (from 1.23.4)."""
        return self.at_least(facts()["tls13_default_since"]["version"])

    @property
    def trusted_only_accepted(self) -> bool | None:
        """`ssl_verify_client` with only ssl_trusted_certificate passes `nginx -t`."""
        return self.at_least(facts()["trusted_only_since"]["version"])

    @property
    def picks_server_before_resumption(self) -> bool | None:
        """From 1.29.2 the SNI server's own settings decide the handshake (no crossing)."""
        return self.at_least(facts()["sni_session_check_since"]["version"])

    def no_client_ca_message(self) -> str:
        """`nginx -t`'s words for ssl_verify_client without a CA, as the target says them."""
        if self.trusted_only_accepted:
            return "no ssl_client_certificate or ssl_trusted_certificate for ssl_verify_client"
        return "no ssl_client_certificate for ssl_verify_client"

    @property
    def cve_2025_23419(self) -> Verdict:
        return self.cve("CVE-2025-23419")

    def cve(self, name: str) -> Verdict:
        data = facts()["cves"][name]
        if self.upstream is None:
            return Verdict("unknown", f"the nginx version is unknown ({self.source}; give "
                           "--nginx-version)")
        version = shown(self.upstream)
        start, end = (parse_upstream(v) for v in data["affected"])
        in_range = start <= self.upstream < end and not any(
            parse_upstream(low) <= self.upstream < (parse_upstream(high) if high else (999,))
            for low, high in data["fixed"])
        fixed_upstream = " and ".join(low for low, _ in data["fixed"])
        if in_range and name in self.patched:
            return Verdict("fixed", f"nginx {version} as {self.source} carries the fix")
        if not in_range:
            return Verdict("fixed", f"nginx {version} is not affected (nginx's advisory: "
                           f"{data['advisory_text']})")
        if self.openssl and not self.openssl.startswith("OpenSSL") and data.get("only_openssl"):
            return Verdict("fixed", f"nginx {version} is built with {self.openssl}; "
                           f"{name} concerns OpenSSL builds")
        if self.package:
            return self._package_verdict(name, data)
        if self.distribution_build:
            return Verdict("unknown", f"nginx {version} is a {self.distribution_build} build "
                           "(configure arguments) whose package version is unknown: a "
                           "distribution may carry the fix (give --nginx-version "
                           "PACKAGE-VERSION)")
        return Verdict("affected", f"nginx {version} is affected (fixed upstream in "
                       f"{fixed_upstream})")

    def _package_verdict(self, name: str, data: dict[str, Any]) -> Verdict:
        package = self.package or ""
        releases = data["packages"].get(self.distribution or "", {})
        entry_release = self.release if self.release in releases else next(
            (r for r, e in releases.items() if e.get("match") and e["match"] in package),
            None)
        entry = releases.get(entry_release) if entry_release else None
        label = f"{self.distribution or 'distribution'} package {self.package}"
        if entry is None:
            return Verdict("unknown", f"{label}: no fixed version of this release is "
                           f"recorded, so its patch level for {name} is unknown")
        fixed = entry.get("fixed")
        source = entry["source"]
        if fixed is None:
            return Verdict("unknown", f"{label}: {source}")
        if compare_packages(package, fixed) >= 0:
            return Verdict("fixed", f"{label} carries the fix ({fixed} or later; {source})")
        if entry.get("exact"):
            return Verdict("affected", f"{label} is older than the fixed {fixed} ({source})")
        return Verdict("unknown", f"{label} is older than {fixed}, the oldest revision known "
                       f"to be fixed ({source}): its patch level is unknown")

    @property
    def upgrade_hint(self) -> str:
        """Where the fix for CVE-2025-23419 is, for this target's distribution."""
        data = facts()["cves"]["CVE-2025-23419"]
        upstream = " or ".join(f"{low}+" for low, _ in data["fixed"])
        releases = data["packages"].get(self.distribution or "", {})
        entry = releases.get(self.release or "") or next(
            (e for e in releases.values()
             if self.package and e.get("match") and e["match"] in self.package), None)
        if entry and entry.get("fixed"):
            return (f"upgrade the {self.distribution} package to {entry['fixed']} or later "
                    f"(upstream: {upstream})")
        return f"upgrade nginx to {upstream} (or a distribution package carrying the fix)"


UNKNOWN = Target()


def _distribution_of(package: str) -> tuple[str | None, str | None]:
    """(distribution, release) recognised from a package version string."""
    debian = re.search(r"\+deb(\d+)u\d+", package)
    if debian:
        return "debian", debian.group(1)
    if "ubuntu" in package:
        return "ubuntu", None
    rpm = re.search(r"\.(el\d+|fc\d+|amzn\d+)", package)
    if rpm:
        return "rpm", rpm.group(1)
    if re.search(r"-r\d+$", package):
        return "alpine", None
    return None, None


def parse_target(text: str, source: str) -> Target:
    """`1.26.2`, `1.22.1-9+deb12u9`, `1.18.0-6ubuntu14.6` or `debian:12/1.22.1-9+deb12u9`."""
    text = text.strip()
    distribution = release = None
    qualified = QUALIFIED.match(text)
    if qualified:
        distribution, release, text = qualified.groups()
    if UPSTREAM.match(text):
        if distribution:
            raise VersionError(f"{distribution}:{release}/{text}: expected a package version "
                               "such as 1.22.1-9+deb12u9 after the distribution")
        return Target(parse_upstream(text), source=source)
    package = PACKAGE.match(text)
    if not package:
        raise VersionError(f"expected an nginx version (1.26.2) or a package version "
                           f"(1.22.1-9+deb12u9, debian:12/1.22.1-9+deb12u9), got {text!r}")
    found_distribution, found_release = _distribution_of(text)
    return Target(parse_upstream(package.group(1)), package=text,
                  distribution=distribution or found_distribution,
                  release=release or found_release, source=source)


def from_nginx_v(text: str, source: str) -> Target | None:
    """A target from `nginx -V` output (None when the text holds no `nginx version:`)."""
    version = NGINX_V.search(text)
    if not version:
        return None
    openssl = OPENSSL_V.search(text)
    configure = CONFIGURE_V.search(text)
    marker = next((label for pattern, label in DISTRIBUTION_MARKERS
                   if configure and pattern.search(configure.group(1))), None)
    return Target(parse_upstream(version.group(1)), distribution_build=marker,
                  openssl=openssl.group(1) if openssl else None, source=source)


# --------------------------------------------------------------------------- this machine

def _run(command: list[str]) -> str | None:
    """Output of a system tool; None when it is absent or fails (no information)."""
    import subprocess  # (the live system only)

    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=10,
                                env={"PATH": os.pathsep.join(SYSTEM_PATH), "LC_ALL": "C"})
    except (OSError, subprocess.SubprocessError):
        return None
    return (result.stdout + result.stderr) if result.returncode == 0 else None


def _system_tool(name: str) -> str | None:
    return shutil.which(name, path=os.pathsep.join(SYSTEM_PATH))


def installed_package() -> tuple[str, str | None, str | None] | None:
    """(package version, distribution, release) of the installed nginx package."""
    os_release = {}
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                os_release[key] = value.strip('"')
    except OSError:
        pass
    queries = [("dpkg-query", ["-W", "-f=${db:Status-Abbrev}${Version}\n", name])
               for name in ("nginx", "nginx-core", "nginx-full", "nginx-light")]
    queries += [("rpm", ["-q", "--qf", "%{VERSION}-%{RELEASE}\n", "nginx"]),
                ("apk", ["info", "-e", "-v", "nginx"])]
    for tool, args in queries:
        path = _system_tool(tool)
        output = _run([path, *args]) if path else None
        lines = [line.strip() for line in (output or "").splitlines()]
        if tool == "dpkg-query":  # installed ("ii ") packages only
            lines = [line[3:].strip() for line in lines if line.startswith("ii ")]
        versions = [v.removeprefix("nginx-") for v in lines
                    if PACKAGE.match(v.removeprefix("nginx-"))]
        if versions:
            distribution = os_release.get("ID") or _distribution_of(versions[0])[0]
            return versions[0], distribution, os_release.get("VERSION_ID")
    return None


def from_this_machine() -> Target | None:
    """`nginx -V` of the system's nginx (never a binary from the configuration tree), and
    the package version when a package manager knows it."""
    binary = _system_tool("nginx")
    output = _run([binary, "-V"]) if binary else None
    target = from_nginx_v(output, "nginx -V on this machine") if output else None
    package = installed_package()
    if package is None:
        return target
    version, distribution, release = package
    parsed = parse_target(version, "")
    if target is not None and parsed.upstream != target.upstream:
        return target  # the package is not the nginx on PATH: trust the binary alone
    tool = "the package manager"
    return Target(parsed.upstream, package=version, distribution=distribution or
                  parsed.distribution, release=release or parsed.release,
                  openssl=target.openssl if target else None,
                  source=f"{'nginx -V and ' if target else ''}{tool} on this machine")
