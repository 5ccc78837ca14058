"""The target nginx: versions and package versions, `nginx -V`, and the verdicts they give."""

from __future__ import annotations

import json

import pytest

from conftest import FIXTURES, run_cli
from nginx_mtls_lint import versions

DEBIAN_V = """nginx version: nginx/1.22.1
built with OpenSSL 3.0.22 25 Aug 2026
TLS SNI support enabled
configure arguments: --with-cc-opt='-g -O2 -ffile-prefix-map=/build/reproducible-path/nginx-1.22.1=. -fPIC' --prefix=/usr/share/nginx --conf-path=/etc/nginx/nginx.conf --with-http_ssl_module
"""
UPSTREAM_V = """nginx version: nginx/1.26.2
built with OpenSSL 3.0.22 25 Aug 2026
TLS SNI support enabled
configure arguments: --prefix=/opt/nginx --with-http_ssl_module --with-stream
"""
TWO_CAS = FIXTURES / "rules" / "MTLS105" / "two_cas_one_socket.conf"


@pytest.mark.parametrize("text,state", [
    ("1.26.2", "affected"), ("1.26.3", "fixed"), ("1.27.3", "affected"), ("1.27.4", "fixed"),
    ("1.28.0", "fixed"), ("1.30.4", "fixed"), ("1.11.3", "fixed"), ("1.24.0", "affected"),
    ("1.22.1-9+deb12u9", "fixed"), ("debian:12/1.22.1-9+deb12u11", "fixed"),
    ("1.22.1-9+deb12u2", "unknown"),  # older than the oldest revision known to be fixed
    ("1.18.0-6ubuntu14.6", "fixed"), ("1.18.0-6ubuntu14.3", "affected"),
    ("1.18.0-0ubuntu1.7", "fixed"), ("1.24.0-2ubuntu7.1", "unknown"),
    ("1.20.1-14.el9", "unknown"), ("1.24.0-r15", "unknown"),
])
def test_cve_2025_23419_verdicts(text, state):
    verdict = versions.parse_target(text, "test").cve_2025_23419
    assert verdict.state == state, verdict.reason
    assert verdict.reason


def test_package_versions_name_their_distribution():
    target = versions.parse_target("1.22.1-9+deb12u9", "--nginx-version")
    assert (target.upstream, target.distribution, target.release) == ((1, 22, 1), "debian", "12")
    assert versions.parse_target("1.18.0-6ubuntu14.6", "x").distribution == "ubuntu"
    assert versions.parse_target("debian:12/1.22.1-9+deb12u9", "x").release == "12"
    assert "1.22.1-9+deb12u9 or later" in target.upgrade_hint


@pytest.mark.parametrize("bad", ["1.2", "latest", "debian:12/1.22.1", ""])
def test_unreadable_versions_are_refused(bad):
    with pytest.raises(versions.VersionError):
        versions.parse_target(bad, "test")


def test_dpkg_ordering():
    assert versions.compare_packages("1.22.1-9+deb12u11", "1.22.1-9+deb12u9") == 1
    assert versions.compare_packages("1.0~rc1-1", "1.0-1") == -1
    assert versions.compare_packages("1:1.0-1", "2.0-1") == 1
    assert versions.compare_packages("1.18.0-6ubuntu14.6", "1.18.0-6ubuntu14.6") == 0


def test_nginx_V_of_a_distribution_build_has_an_unknown_patch_level():
    debian = versions.from_nginx_v(DEBIAN_V, "nginx -V in the input")
    assert debian.distribution_build == "Debian/Ubuntu" and debian.openssl.startswith("OpenSSL")
    assert debian.cve_2025_23419.state == "unknown"
    upstream = versions.from_nginx_v(UPSTREAM_V, "nginx -V in the input")
    assert upstream.distribution_build is None and upstream.cve_2025_23419.affected
    assert versions.from_nginx_v("no version here", "x") is None


def test_version_answers():
    old, new = versions.parse_target("1.22.1", "t"), versions.parse_target("1.28.0", "t")
    assert (old.tls13_default, new.tls13_default) == (False, True)
    assert (old.trusted_only_accepted, new.trusted_only_accepted) == (False, True)
    assert (old.has("http2"), new.has("http2"), new.has("ssl")) == (False, True, False)
    assert versions.UNKNOWN.has("http2") is None and versions.UNKNOWN.has("listen") is True
    assert "no `ssl_reject_handshake` (added in 1.19.4)" in \
        versions.parse_target("1.18.0", "t").lacks("ssl_reject_handshake")


def mtls105(*args: str, stdin: bytes | None = None) -> tuple[set[str], dict]:
    done = run_cli("--format", "json", *args, stdin=stdin)
    assert done.returncode in (0, 1), done.stderr
    document = json.loads(done.stdout)
    return {f["severity"] for f in document["findings"] if f["rule"] == "MTLS105"}, document


def test_MTLS105_by_target_version():
    assert mtls105(str(TWO_CAS), "--nginx-version", "1.26.2")[0] == {"error"}
    for fixed in ("1.28.0", "1.30.4", "1.22.1-9+deb12u9"):
        assert mtls105(str(TWO_CAS), "--nginx-version", fixed)[0] == set(), fixed
    unknown, document = mtls105(str(TWO_CAS))
    assert unknown == {"warning"}
    assert all("CVE-2025-23419" in f["message"] for f in document["findings"]
               if f["rule"] == "MTLS105")
    assert document["target"]["source"] == "not given"


def test_version_from_nginx_V_before_a_dump():
    dump = (UPSTREAM_V + "# configuration file /etc/nginx/nginx.conf:\n"
            + "events {}\nhttp {\n" + TWO_CAS.read_text() + "}\n").encode()
    severities, document = mtls105("-", stdin=dump)
    assert severities == {"error"}
    assert document["target"]["version"] == "1.26.2"
    assert document["target"]["source"] == "nginx -V in the input"


def test_nginx_version_in_the_configuration_file(tmp_path):
    config = tmp_path / ".nginx-mtls-lint.yaml"
    config.write_text("nginx-version: 1.26.2\n")
    severities, document = mtls105(str(TWO_CAS), "--config", str(config))
    assert severities == {"error"}
    assert document["target"]["source"] == f"nginx-version: in {config}"
    config.write_text("fail-on: error\nnginx-version: soon\n")
    done = run_cli(str(TWO_CAS), "--config", str(config))
    assert done.returncode == 2 and f"{config}:2: nginx-version" in done.stderr.decode()
    done = run_cli(str(TWO_CAS), "--nginx-version", "1.x")
    assert done.returncode == 2 and b"Traceback" not in done.stderr


def test_fix_hints_use_only_directives_the_target_has():
    mtls102 = FIXTURES / "rules" / "MTLS102" / "default_trusts_other_ca.conf"
    _, old = mtls105(str(mtls102), "--nginx-version", "1.18.0")
    _, new = mtls105(str(mtls102), "--nginx-version", "1.20.0")
    fix_old = next(f["fix"] for f in old["findings"] if f["rule"] == "MTLS102")
    fix_new = next(f["fix"] for f in new["findings"] if f["rule"] == "MTLS102")
    assert "ssl_reject_handshake on;" in fix_new
    assert "separate address" in fix_old and "has no `ssl_reject_handshake`" in fix_old


def test_directives_the_target_lacks_are_unknown(tmp_path):
    conf = tmp_path / "site.conf"
    conf.write_text("server {\n    listen 443;\n    ssl on;\n    http2 on;\n"
                    "    ssl_certificate /x.pem;\n    ssl_certificate_key /x.key;\n}\n")

    def unknown(version: str) -> list[int]:
        done = run_cli("--format", "json", str(conf), "--nginx-version", version)
        return sorted(f["line"] for f in json.loads(done.stdout)["findings"]
                      if f["rule"] == "MTLS009")

    assert unknown("1.22.1") == [4]  # http2 on: not yet
    assert unknown("1.26.2") == [3]  # ssl on: no more
    assert unknown("1.18.0-6ubuntu14.6") == [4]
