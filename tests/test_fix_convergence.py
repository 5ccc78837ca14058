"""Issue 21: fixes converge. Every fix (safe and unsafe) of a tree, applied once as a user
applies them (`--diff --unsafe-fixes | patch -p1`), leaves none of the findings it fixed and
no new one; and `nginx -t` still accepts a tree it accepted before (with the certificate files
the test supplies)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES, lint_in_process, make_cert, pem, shared_file

DEMO = FIXTURES / "demo"
RULE_CASES = sorted(p for rule in (FIXTURES / "rules").iterdir() if rule.is_dir()
                    for p in rule.iterdir())
FILE_DIRECTIVES = re.compile(
    r"^\s*(ssl_certificate|ssl_certificate_key|ssl_client_certificate|"
    r"ssl_trusted_certificate|proxy_ssl_trusted_certificate)\s+([^;$\s]+);", re.MULTILINE)


def identities(result, fixed_only: bool = False) -> dict[str, str]:
    """Identity -> what the finding says, for the active findings (only those with a fix that
    `--diff` applies: display-only advice edits nothing)."""
    from nginx_mtls_lint.identity import identities as of

    active = [f for f in result.findings if not f.suppressed]
    return {key: f"{f.rule} {f.file}:{f.line} {f.message}"
            for f, key in zip(active, of(active).values()) if any(fix.applies for fix in f.fixes) or not fixed_only}


def root_of(tree: Path) -> Path:
    return tree / "nginx.conf" if tree.is_dir() else tree


def apply_every_fix(tree: Path, certs: Path) -> tuple[dict, dict, dict, list[str]]:
    """(findings before, those of them with a fix, findings after, fixes left out), applying
    the diff with patch."""
    from nginx_mtls_lint.report.edits import unified_diff

    cwd = os.getcwd()
    os.chdir(tree if tree.is_dir() else tree.parent)
    try:
        root = root_of(tree)
        path_map = [("/etc/nginx/certs", str(certs))]  # as the fixture tests lint them
        before = lint_in_process([root], path_map=path_map)
        diff = unified_diff(before.findings, True, set())
        if diff.text:
            applied = subprocess.run(["patch", "-p1", "--batch", "--quiet"],
                                     input=diff.text.encode(), capture_output=True, timeout=60)
            assert applied.returncode == 0, applied.stdout + applied.stderr
        after = lint_in_process([root], path_map=path_map)
    finally:
        os.chdir(cwd)
    return identities(before), identities(before, True), identities(after), diff.left_out


def supply_files(tree: Path) -> None:
    """A certificate and key for every relative certificate path the tree names and does not
    hold (nginx -t reads them)."""
    from conftest import key_pem

    cert, key = make_cert("supplied.test", ca=True)
    origin_pull = shared_file("data/cloudflare/origin-pull-ca.pem").read_bytes()
    for conf in [p for p in tree.rglob("*") if p.is_file()]:
        for directive, value in FILE_DIRECTIVES.findall(conf.read_text(errors="replace")):
            target = tree / value
            if os.path.isabs(value) or target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            # a client CA file: Cloudflare's (the CA the tree means); the server's own pair:
            # a certificate made here
            target.write_bytes(key_pem(key) if directive.endswith("_key") else
                               pem(cert) if directive == "ssl_certificate" else origin_pull)


def nginx_accepts(tree: Path) -> bool:
    from nginx_harness import nginx_binary

    result = subprocess.run([nginx_binary(), "-t", "-q", "-p", str(tree), "-c",
                             str(root_of(tree)), "-e", "/dev/null",
                             "-g", f"pid {tree}/nginx.pid;"],
                            capture_output=True, text=True, timeout=60)
    return result.returncode == 0


def converges(source: Path, tmp_path: Path, certs: Path,
              check_nginx: bool) -> tuple[list[str], bool]:
    """(what does not converge, whether nginx -t accepted the tree before the fixes)."""
    tree = tmp_path / source.name
    if source.is_dir():
        shutil.copytree(source, tree, symlinks=True)
    else:
        tree.mkdir()
        shutil.copy(source, tree / "nginx.conf")
    problems = []
    accepted = check_nginx and tree.is_dir() and (supply_files(tree) or nginx_accepts(tree))
    before, fixed, after, left_out = apply_every_fix(tree, certs)
    problems += [f"left out: {reason}" for reason in left_out]
    problems += [f"new after the fixes: {after[key]}" for key in after.keys() - before.keys()]
    problems += [f"still there after its fix: {after[key]}" for key in after.keys() & fixed.keys()]
    if accepted and not nginx_accepts(tree):
        problems.append("nginx -t refuses the fixed tree")
    return problems, accepted


ACCEPTED_TREE = """events {}
http {
    server {
        listen 443 ssl;
        listen [::]:443 ssl;
        server_name shop.example.com;
        ssl_certificate certs/shop.pem;
        ssl_certificate_key certs/shop.key;
        real_ip_header CF-Connecting-IP;
        location / { proxy_pass http://127.0.0.1:8080; }
    }
    server {
        listen 443 ssl;
        listen [::]:443 ssl;
        server_name api.example.com;
        ssl_certificate certs/shop.pem;
        ssl_certificate_key certs/shop.key;
        ssl_client_certificate certs/origin-pull-ca.pem;
        ssl_verify_client optional;
        location / { proxy_pass http://127.0.0.1:8081; }
    }
}
"""


@pytest.mark.nginx
def test_every_fix_of_the_demo_converges(tmp_path: Path, certs_dir: Path):
    problems, accepted = converges(DEMO / "nginx", tmp_path, certs_dir, check_nginx=True)
    assert accepted, "nginx -t refuses the demo (with the certificate files supplied)"
    assert not problems, "\n".join(problems)


def fixed_tree(conf: str, tmp_path: Path, certs_dir: Path) -> str:
    """The nginx.conf `conf` becomes with every fix applied, after checking that it converges
    and that nginx -t accepts it before and after."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "nginx.conf").write_text(conf)
    problems, accepted = converges(source, tmp_path / "fixed", certs_dir, check_nginx=True)
    assert accepted and not problems, "\n".join(problems)
    return (tmp_path / "fixed" / "source" / "nginx.conf").read_text()


@pytest.mark.nginx
def test_fixes_of_a_tree_nginx_accepts_converge_and_nginx_still_accepts_it(
        tmp_path: Path, certs_dir: Path):
    """MTLS001 (the CA path the tree names), MTLS002 and MTLS103 on both address families,
    applied at once: nothing of theirs is left, nothing new, and nginx -t says ok."""
    fixed = fixed_tree(ACCEPTED_TREE, tmp_path, certs_dir)
    assert fixed.count("ssl_verify_client on;") == 2 and "optional" not in fixed
    assert fixed.count("ssl_client_certificate certs/origin-pull-ca.pem;") == 2
    assert fixed.count("default_server") == 2 and "ssl_reject_handshake on;" in fixed


@pytest.mark.nginx
@pytest.mark.parametrize("case", RULE_CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_fix_of_every_fixture_converges(case: Path, tmp_path: Path, certs_dir: Path):
    problems, _ = converges(case, tmp_path, certs_dir, check_nginx=True)
    assert not problems, "\n".join(problems)


TWO_PORTS = """events {}
http {
    server {
        listen 443 ssl;
        listen 8443 ssl;
        server_name shop.example.com;
        ssl_certificate certs/shop.pem;
        ssl_certificate_key certs/shop.key;
        real_ip_header CF-Connecting-IP;
        ssl_client_certificate certs/origin-pull-ca.pem;
        ssl_verify_client on;
        location / { proxy_pass http://127.0.0.1:8080; }
    }
}
"""


@pytest.mark.nginx
def test_one_default_server_of_two_ports_gets_one_new_default_server(
        tmp_path: Path, certs_dir: Path):
    """MTLS103 on :443 and :8443 of one default server (limtaegeun/Docker-nginx-cloudflare-
    ssl-proxy: :80 under `ssl on` and :443): both fixes inserted a block at one place, so
    --diff left one out and a second pass was needed. One new default server, both listens."""
    fixed = fixed_tree(TWO_PORTS, tmp_path, certs_dir)
    assert fixed.count("ssl_reject_handshake on;") == 1
    assert "listen 443 ssl default_server;" in fixed and "listen 8443 ssl default_server;" in fixed
