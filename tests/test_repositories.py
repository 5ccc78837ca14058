"""Issue 21: real configuration repositories. Committed symbolic links and foreign paths go
through the same mapping as every other path; a link out of the checkout is reported on the
link, never followed onto this machine; one MTLS901 per missing file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import lint_json

VHOST = """server {
    listen 443 ssl;
    server_name shop.example.com;
    ssl_certificate /etc/nginx/certs/shop.pem;
    ssl_certificate_key /etc/nginx/certs/shop.key;
    ssl_client_certificate /etc/nginx/certs/origin-pull-ca.pem;
    ssl_verify_client optional;
    real_ip_header CF-Connecting-IP;
    location / { proxy_pass http://127.0.0.1:8080; }
}
"""
DECOY = VHOST.replace("shop.example.com", "decoy.example.com")


def debian_repository(top: Path, target: str) -> Path:
    """deploy/nginx with sites-enabled/shop committed as a link to `target`."""
    nginx = top / "deploy" / "nginx"
    (nginx / "sites-available").mkdir(parents=True)
    (nginx / "sites-enabled").mkdir()
    (top / ".git").mkdir()
    (nginx / "nginx.conf").write_text(
        "events {}\nhttp {\n    include /etc/nginx/sites-enabled/*;\n}\n")
    (nginx / "sites-available" / "shop").write_text(VHOST)
    (nginx / "sites-enabled" / "shop").symlink_to(target)
    return nginx


def findings(document: dict) -> set[tuple[str, int | None, str]]:
    return {(f["file"], f["line"], f["rule"]) for f in document["findings"]
            if f["severity"] != "note"}


def test_a_committed_absolute_sites_enabled_link_lints_the_repository_vhost(tmp_path: Path):
    debian_repository(tmp_path, "/etc/nginx/sites-available/shop")
    # the README's CI command
    document = lint_json("--path-map", "/etc/nginx=deploy/nginx", "deploy/nginx/nginx.conf",
                         cwd=tmp_path)
    assert ("deploy/nginx/sites-available/shop", 7, "MTLS002") in findings(document)
    assert "MTLS901" not in {f["rule"] for f in document["findings"]}
    assert document["summary"]["servers"] == 1
    # inferred, and linting the folder: the same vhost, once
    for args in (["deploy/nginx/nginx.conf"], ["deploy/nginx"]):
        document = lint_json(*args, cwd=tmp_path)
        assert findings(document) == {("deploy/nginx/sites-available/shop", 7, "MTLS002")}
        assert document["summary"]["servers"] == 1


def test_a_link_out_of_the_checkout_is_reported_on_the_link_not_followed(tmp_path: Path):
    elsewhere = tmp_path / "machine" / "shop"  # exists "on this machine", outside the checkout
    elsewhere.parent.mkdir()
    elsewhere.write_text(DECOY)
    repository = tmp_path / "repo"
    debian_repository(repository, str(elsewhere))
    for args in (["--no-infer-paths", "--path-map", "/etc/nginx=deploy/nginx",
                  "deploy/nginx/nginx.conf"], ["deploy/nginx"]):
        document = lint_json(*args, cwd=repository)
        assert "decoy" not in str(document), args  # this machine's file was never read
        (missing,) = [f for f in document["findings"] if f["rule"] == "MTLS901"]
        assert "sites-enabled/shop is a symbolic link to" in missing["message"]
        assert "not followed onto this machine" in missing["message"]
        assert f"--path-map {elsewhere.parent}=DIR" in missing["fix"]


def test_windows_paths_are_absolute_paths_of_another_machine(tmp_path: Path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "certs").mkdir()
    (tmp_path / "nginx.conf").write_text(
        "events {}\nhttp {\n    include C:\\nginx\\conf\\sites\\*.conf;\n"
        "    server {\n        listen 443 ssl;\n        server_name a.example.com;\n"
        "        ssl_client_certificate C:/Users/ops/ca.pem;\n"
        "        ssl_verify_client on;\n    }\n}\n")
    document = lint_json("nginx.conf", cwd=tmp_path)
    rules = {(f["line"], f["rule"]) for f in document["findings"]}
    assert (7, "MTLS911") in rules and (7, "MTLS003") not in rules  # not "nginx will not start"
    (include,) = [f for f in document["findings"] if f["rule"] == "MTLS901"]
    assert "path on the Windows host" in include["message"]
    assert "--path-map C:/nginx/conf/sites=DIR" in include["message"]
    # mapped like any other absolute path, with either separator
    document = lint_json("--path-map", "C:/Users/ops=certs", "--path-map",
                         "C:\\nginx\\conf\\sites=.", "nginx.conf", cwd=tmp_path)
    rules = {(f["line"], f["rule"]) for f in document["findings"]}
    assert (7, "MTLS003") in rules and not {r for _, r in rules} & {"MTLS901", "MTLS911"}


def test_one_include_not_found_per_missing_file_with_every_include_related(tmp_path: Path):
    (tmp_path / "nginx.conf").write_text(
        "events {}\nhttp {\n" + "".join(
            f"    server {{\n        listen 80;\n        server_name s{n}.example.com;\n"
            "        include snippets/headers.conf;\n    }\n" for n in range(3)) + "}\n")
    document = lint_json("nginx.conf", cwd=tmp_path)
    (missing,) = [f for f in document["findings"] if f["rule"] == "MTLS901"]
    assert missing["line"] == 6
    assert [r["line"] for r in missing["related"]] == [11, 16]
    assert missing["fix"].startswith("Create snippets/headers.conf")
    assert "--path-map" not in missing["fix"]  # a relative include: the file is missing


def test_path_map_maps_one_file_onto_another(tmp_path: Path):
    (tmp_path / "nginx.conf").write_text("events {}\nhttp {\n    include /srv/app/site.conf;\n}\n")
    (tmp_path / "elsewhere.conf").write_text(VHOST)
    document = lint_json("--path-map", f"/srv/app/site.conf={tmp_path / 'elsewhere.conf'}",
                         "nginx.conf", cwd=tmp_path)
    assert document["summary"]["servers"] == 1
    assert os.path.basename(document["findings"][0]["file"]) == "elsewhere.conf"


def test_files_kept_under_another_folder_are_found_with_a_note(tmp_path: Path):
    """A repository holding nginx/conf/nginx.conf, nginx/snippets/ and nginx/conf.d/ (the
    layout of a real corpus repository), naming them /etc/nginx/...; a CA file committed
    under another folder is found by its name alone."""
    nginx = tmp_path / "nginx"
    for folder in ("conf", "snippets", "conf.d", "ca"):
        (nginx / folder).mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    (nginx / "conf" / "nginx.conf").write_text(
        "events {}\nhttp {\n    include /etc/nginx/snippets/cloudflare-realip.conf;\n"
        "    include /etc/nginx/conf.d/*.conf;\n    include /etc/nginx/snippets/absent.conf;\n"
        "}\n")
    (nginx / "snippets" / "cloudflare-realip.conf").write_text(
        "real_ip_header CF-Connecting-IP;\n")
    (nginx / "conf.d" / "shop.conf").write_text(VHOST.replace(
        "/etc/nginx/certs/origin-pull-ca.pem", "/etc/ssl/cloudflare/origin-pull-ca.pem"))
    (nginx / "ca" / "origin-pull-ca.pem").write_text("not a certificate\n")
    document = lint_json("nginx", cwd=tmp_path)
    notes = [f["message"] for f in document["findings"] if f["rule"] == "MTLS910"]
    assert any("the only file of the checkout ending in snippets/cloudflare-realip.conf"
               in n for n in notes), notes
    assert any("the only folder of the checkout ending in nginx/conf.d/" in n for n in notes)
    assert any("origin-pull-ca.pem" in n and "nginx/ca/origin-pull-ca.pem" in n
               for n in document["analysis_notes"]), document["analysis_notes"]
    rules = {(f["file"], f["line"], f["rule"]) for f in document["findings"]}
    assert ("nginx/conf.d/shop.conf", 7, "MTLS002") in rules
    # the CA file found is read: it holds no certificate (MTLS003), not "not available"
    assert ("nginx/conf.d/shop.conf", 6, "MTLS003") in rules
    (missing,) = [f for f in document["findings"] if f["rule"] == "MTLS901"]
    assert missing["line"] == 5 and "absent.conf" in missing["message"]


def test_no_path_inside_a_repository_lints_the_repository_and_names_the_root(tmp_path: Path):
    from nginx_mtls_lint.discovery import default_inputs, system_folder
    from nginx_mtls_lint.loader import DEFAULT_ROOT

    nginx = debian_repository(tmp_path, "../sites-available/shop")
    for cwd in (tmp_path, nginx / "sites-available"):
        assert os.path.realpath(os.path.join(cwd, default_inputs(str(cwd))[0])) == \
            os.path.realpath(tmp_path)
    document = lint_json(cwd=nginx)
    assert ("sites-available/shop", 7, "MTLS002") in findings(document)
    assert document["roots"] == [{"path": "nginx.conf", "read_as": "checkout"}]
    from conftest import run_cli
    console = run_cli(cwd=tmp_path).stdout.decode()
    assert "read: deploy/nginx/nginx.conf (a checkout)" in console
    # a work tree without nginx files, /etc in git, a home directory: the live system
    (tmp_path / "other" / ".git").mkdir(parents=True)
    assert default_inputs(str(tmp_path / "other")) == [DEFAULT_ROOT]
    assert system_folder("/etc") and system_folder(os.path.expanduser("~"))
    assert system_folder("/etc/nginx") and not system_folder(str(tmp_path))


def test_a_file_the_tree_includes_is_nginx_whatever_its_name_in_every_mode(tmp_path: Path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "nginx.conf").write_text(
        "events {}\nhttp {\n    include conf.d/redis.conf;\n}\n")
    # looks like redis (no `;`), but nginx reads it: nginx -t fails there
    (tmp_path / "conf.d" / "redis.conf").write_text("bind 127.0.0.1\nport 6379\n")
    for args in (["conf.d/redis.conf"], ["nginx.conf"], ["."]):  # pre-commit, path, folder
        document = lint_json(*args, cwd=tmp_path)
        rules = {(f["file"], f["rule"]) for f in document["findings"]}
        assert ("conf.d/redis.conf", "MTLS900") in rules, (args, rules)
        assert "MTLS912" not in {r for _, r in rules}


def test_files_that_open_like_nginx_and_patterns_widen_discovery(tmp_path: Path):
    (tmp_path / "api").mkdir()
    (tmp_path / "vhosts-extra").mkdir()
    (tmp_path / "conf.nginx").write_text("# shop\n\n" + VHOST)
    (tmp_path / "vhosts-extra" / "shop").write_text(VHOST.replace("shop.", "plain."))
    (tmp_path / "api" / "v1.conf.sample").write_text(VHOST.replace("shop.", "api."))
    (tmp_path / "notes").write_text("server maintenance at noon\n")
    document = lint_json(".", cwd=tmp_path)
    files = {f["file"] for f in document["findings"] if f["rule"] == "MTLS002"}
    assert files == {"conf.nginx", "vhosts-extra/shop"}
    for args in (["--extend-include", "api/*.sample"], ["--extend-include", "*.sample"]):
        document = lint_json(*args, ".", cwd=tmp_path)
        files = {f["file"] for f in document["findings"] if f["rule"] == "MTLS002"}
        assert "api/v1.conf.sample" in files, args
    (tmp_path / ".nginx-mtls-lint.yaml").write_text("extend-include: ['*.sample']\n")
    document = lint_json(".", cwd=tmp_path)
    assert "api/v1.conf.sample" in {f["file"] for f in document["findings"]}


def test_templates_only_say_which_flag_lints_them_and_vhost_d_is_nginx(tmp_path: Path):
    """docker-swag keeps only `*.conf.sample` files: exit 2, naming them and the flag;
    nginx-proxy's vhost.d/<host> snippets (no extension) are nginx (SuperCoopBerlin/tapir)."""
    from conftest import run_cli
    (tmp_path / "swag" / "site-confs").mkdir(parents=True)
    (tmp_path / "swag" / "site-confs" / "default.conf.sample").write_text("# x\n" + VHOST)
    result = run_cli("swag", cwd=tmp_path)
    assert result.returncode == 2
    assert ("templates that read as nginx: site-confs/default.conf.sample: lint them with "
            "--extend-include '*.conf.sample'") in result.stderr.decode()
    assert run_cli("--extend-include", "*.conf.sample", "swag", cwd=tmp_path).returncode == 1
    (tmp_path / "proxy" / "vhost.d").mkdir(parents=True)
    (tmp_path / "proxy" / "vhost.d" / "shop.example.com").write_text(
        "real_ip_header CF-Connecting-IP;\nssl_client_certificate /etc/nginx/ca.pem;\n"
        "ssl_verify_client optional;\n")
    assert run_cli("proxy", cwd=tmp_path).returncode in (0, 1)  # read, not "nothing found"
    document = lint_json("proxy", cwd=tmp_path)
    assert {f["file"] for f in document["findings"]} <= {"proxy/vhost.d/shop.example.com"}
    assert document["findings"]


def test_a_data_folder_among_several_inputs_is_skipped_silently(tmp_path: Path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dump.csv").write_text("a,b\n")
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "shop.conf").write_text(VHOST)
    document = lint_json("data", "site", cwd=tmp_path)
    assert "MTLS913" not in {f["rule"] for f in document["findings"]}
    assert "MTLS002" in {f["rule"] for f in document["findings"]}
    from conftest import run_cli
    assert run_cli("data", cwd=tmp_path).returncode == 2  # alone, it is a wrong path


LOCAL_SITES = """events {}
http {
    real_ip_header CF-Connecting-IP;
    server {
        listen 443 ssl;
        server_name localhost dev.local api.internal 10.0.0.5;
        ssl_certificate a.pem;
        ssl_certificate_key a.key; root /var/www/local;
    }
    server {
        listen 127.0.0.1:8443 ssl;
        server_name localhost;
        ssl_certificate a.pem;
        ssl_certificate_key a.key;
    }
    server {
        listen 443 ssl;
        server_name _ shop.example.com;
        ssl_certificate a.pem;
        ssl_certificate_key a.key; root /var/www/shop;
    }
}
"""


def test_http_level_cloudflare_signals_do_not_front_local_sites(tmp_path: Path):
    (tmp_path / "nginx.conf").write_text(LOCAL_SITES)
    document = lint_json("nginx.conf", cwd=tmp_path)
    errors = [f for f in document["findings"] if f["rule"] == "MTLS001"]
    # the local names are no Cloudflare site; the public one is, and is named by its name
    assert [f["line"] for f in errors] == [16]
    assert errors[0]["message"].startswith("shop.example.com is fronted by Cloudflare")
    from conftest import run_cli
    inspect = json.loads(run_cli("inspect", "--format", "json", "nginx.conf",
                                 cwd=tmp_path).stdout)
    fronted = {s["line"]: s["cloudflare"]["fronted"] for s in inspect["servers"]}
    assert fronted == {4: False, 10: True, 16: True}  # the loopback one: a tunnel's origin
    # a signal in the local server itself still counts
    (tmp_path / "nginx.conf").write_text(LOCAL_SITES.replace(
        "server_name localhost dev.local api.internal 10.0.0.5;",
        "server_name localhost;\n        set_real_ip_from 173.245.48.0/20;"))
    document = lint_json("nginx.conf", cwd=tmp_path)
    assert 4 in [f["server"]["line"] for f in document["findings"] if f["rule"] == "MTLS001"]


def test_a_plain_server_is_not_among_the_servers_an_expired_client_ca_affects(
        tmp_path: Path, certs_dir: Path):
    (tmp_path / "nginx.conf").write_text(
        "events {}\nhttp {\n"
        f"    ssl_client_certificate {certs_dir / 'expired-ca.pem'};\n"
        "    ssl_verify_client on;\n"
        "    server {\n        listen 80;\n        server_name shop.example.com;\n"
        "        return 301 https://$host$request_uri;\n    }\n"
        "    server {\n        listen 443 ssl;\n        server_name shop.example.com;\n"
        "        ssl_certificate a.pem;\n        ssl_certificate_key a.key;\n    }\n}\n")
    document = lint_json("--select", "MTLS004", "nginx.conf", cwd=tmp_path)
    (stale,) = document["findings"]
    assert [s["line"] for s in stale["servers"]] == [10]


def test_fixes_reuse_the_ca_path_the_tree_names_and_the_counts_say_what_is_fixable(
        tmp_path: Path):
    import shutil

    from conftest import FIXTURES, run_cli
    shutil.copytree(FIXTURES / "demo", tmp_path / "demo")
    demo = tmp_path / "demo"
    diff = run_cli("--diff", "--unsafe-fixes", "nginx/nginx.conf", cwd=demo).stdout.decode()
    # the tree already names Cloudflare's CA certs/origin-pull-ca.pem: no second path
    assert "+    ssl_client_certificate certs/origin-pull-ca.pem;" in diff
    assert "/etc/nginx/certs/origin-pull-ca.pem" not in diff
    console = run_cli("nginx/nginx.conf", cwd=demo).stdout.decode()
    assert "0 fixable with --diff (3 hidden fixes can be enabled with --diff " \
        "--unsafe-fixes)." in console
    empty = run_cli("--diff", "nginx/nginx.conf", cwd=demo)
    assert empty.stdout == b"" and b"3 unsafe fixes can be enabled with --unsafe-fixes" \
        in empty.stderr


def test_the_same_default_server_on_ipv4_and_ipv6_is_one_finding_with_one_fix(tmp_path: Path):
    (tmp_path / "nginx.conf").write_text(
        "events {}\nhttp {\n    server {\n        listen 443 ssl;\n"
        "        listen [::]:443 ssl;\n        server_name shop.example.com;\n"
        "        ssl_certificate a.pem;\n        ssl_certificate_key a.key;\n"
        "        real_ip_header CF-Connecting-IP;\n    }\n}\n")
    document = lint_json("--select", "MTLS103", "nginx.conf", cwd=tmp_path)
    (finding,) = document["findings"]
    assert "0.0.0.0:443 and [::]:443" in finding["message"]
    assert [r["line"] for r in finding["related"] if "[::]:443" in r["label"]] == [5]
    (fix,) = finding["fixes"]
    (insert,) = [e for e in fix["edits"] if "server {" in e["text"]]
    assert "listen 443 ssl default_server;" in insert["text"]
    assert "listen [::]:443 ssl default_server;" in insert["text"]


def test_a_copy_of_debian_etc_nginx_reads_none_of_this_machines_files(tmp_path: Path):
    """modules-enabled/*.conf and sites-enabled/default are links into /usr/share and
    /etc/nginx: the package's module files are unknown (a note), the site is the copy's."""
    etc = tmp_path / "etc-nginx"
    for folder in ("modules-enabled", "sites-available", "sites-enabled"):
        (etc / folder).mkdir(parents=True)
    (etc / "nginx.conf").write_text(
        "include /etc/nginx/modules-enabled/*.conf;\nevents {}\nhttp {\n"
        "    include /etc/nginx/sites-enabled/*;\n}\n")
    (etc / "modules-enabled" / "50-mod-stream.conf").symlink_to(
        "/usr/share/nginx/modules-available/mod-stream.conf")
    (etc / "sites-available" / "default").write_text(VHOST)
    (etc / "sites-enabled" / "default").symlink_to("/etc/nginx/sites-available/default")
    for args in (["etc-nginx"], ["etc-nginx/nginx.conf"]):
        document = lint_json(*args, cwd=tmp_path)
        assert "MTLS901" not in {f["rule"] for f in document["findings"]}, args
        assert any(n.startswith("loaded modules unknown") for n in document["analysis_notes"])
        assert ("etc-nginx/sites-available/default", 7, "MTLS002") in findings(document)


def test_cloudflare_advice_only_about_cloudflare_files(tmp_path: Path):
    (tmp_path / "site.conf").write_text(
        "server {\n    listen 443 ssl;\n    server_name a.example.com;\n"
        "    ssl_certificate a.pem;\n    ssl_certificate_key a.key;\n"
        "    ssl_trusted_certificate /etc/letsencrypt/live/a/chain.pem;\n"
        "    ssl_client_certificate /etc/ssl/cloudflare/origin-pull-ca.pem;\n"
        "    ssl_verify_client on;\n}\n")
    document = lint_json("site.conf", cwd=tmp_path)
    notes = {f["line"]: f for f in document["findings"] if f["rule"] == "MTLS911"}
    assert "Cloudflare" not in notes[6]["message"] + notes[6]["fix"]
    assert "--path-map /etc/letsencrypt/live/a=DIR" in notes[6]["fix"]
    assert "Cloudflare's origin-pull CA" in notes[7]["fix"]


def test_a_windows_crl_kept_in_the_checkout_is_found_by_every_check(tmp_path: Path):
    """A real corpus layout: `ssl_crl C:/Users/.../pki/crl/ca-chain.crl` and the file in
    pki/crl/: found once, for every check (never missing for one and read for another)."""
    (tmp_path / "pki" / "crl").mkdir(parents=True)
    (tmp_path / "pki" / "crl" / "ca-chain.crl").write_text("not a CRL\n")
    (tmp_path / "nginx").mkdir()
    (tmp_path / "nginx" / "nginx.conf").write_text(
        "events {}\nhttp {\n    server {\n        listen 443 ssl;\n"
        "        server_name a.example.com;\n        ssl_certificate a.pem;\n"
        "        ssl_certificate_key a.key;\n"
        "        ssl_client_certificate C:/Users/ops/pki/certs/ca.pem;\n"
        "        ssl_crl C:/Users/ops/pki/crl/ca-chain.crl;\n"
        "        ssl_verify_client on;\n    }\n}\n")
    document = lint_json(".", cwd=tmp_path)
    crl = [f["message"] for f in document["findings"] if f["line"] == 9]
    assert crl and not any("does not exist" in m for m in crl), crl
    assert any("ca-chain.crl" in n and "was inferred" in n for n in document["analysis_notes"])


PLAIN_AND_TLS = """events {}
http {
    ssl_client_certificate CA;
    ssl_verify_client on;
    server {
        listen 80;
        server_name shop.example.com www.example.com;
        return 301 https://$host$request_uri;
    }
    server {
        listen 443 ssl;
        server_name shop.example.com;
        ssl_certificate certs/a.pem;
        ssl_certificate_key certs/a.key;
        location / { proxy_pass http://127.0.0.1:8080; }
    }
}
"""


@pytest.mark.parametrize("ca,rule", [("certs/missing-ca.pem", "MTLS003"),
                                     ("/etc/nginx/certs/ca.pem", "MTLS911"),
                                     ("certs/expired-ca.pem", "MTLS004")])
def test_a_port_80_redirect_is_never_among_the_servers_a_client_ca_affects(
        tmp_path: Path, ca: str, rule: str):
    """Issue 21 item 6: the http-level CA is inherited by the port-80 redirect too, which
    checks no client with it (nginx loads no CA for a server without a certificate)."""
    from conftest import make_cert, pem
    (tmp_path / ".git").mkdir()  # a checkout: the absolute CA path is the deployed host's
    (tmp_path / "certs").mkdir()
    cert, _ = make_cert("Expired Client CA", days_from=-400, days_to=-10)
    (tmp_path / "certs" / "expired-ca.pem").write_bytes(pem(cert))
    (tmp_path / "nginx.conf").write_text(PLAIN_AND_TLS.replace("CA;", ca + ";"))
    document = lint_json("nginx.conf", cwd=tmp_path)
    (finding,) = [f for f in document["findings"] if f["rule"] == rule]
    assert [s["line"] for s in finding["servers"]] == [10], finding
    assert "2 servers" not in finding["message"]
    # item 9: no word of Cloudflare about a CA and servers that have nothing of Cloudflare
    assert "Cloudflare" not in finding["message"] + finding["fix"]


def test_a_server_is_named_by_its_real_names_and_each_affected_server_is_an_entry(
        tmp_path: Path):
    """Issue 21 item 9: `server_name _ shop.example.com` is shop.example.com in messages,
    never `_`; the servers one cause affects are one related location each in SARIF."""
    import shutil

    from conftest import FIXTURES, run_cli
    (tmp_path / "nginx.conf").write_text(
        "events {}\nhttp {\n    real_ip_header CF-Connecting-IP;\n    server {\n"
        "        listen 443 ssl;\n        server_name _ shop.example.com;\n"
        "        ssl_certificate a.pem;\n        ssl_certificate_key a.key;\n"
        "        location / { proxy_pass http://127.0.0.1:8080; }\n    }\n}\n")
    document = lint_json("nginx.conf", cwd=tmp_path)
    (finding,) = [f for f in document["findings"] if f["rule"] == "MTLS001"]
    assert finding["message"].startswith("shop.example.com is fronted by Cloudflare")
    shutil.copytree(FIXTURES / "demo", tmp_path / "demo")
    sarif = json.loads(run_cli("--format", "sarif", "nginx/nginx.conf",
                               cwd=tmp_path / "demo").stdout)
    (result,) = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "MTLS003"]
    affected = [(r["physicalLocation"]["artifactLocation"]["uri"],
                 r["physicalLocation"]["region"]["startLine"], r["message"]["text"])
                for r in result["relatedLocations"] if r["message"]["text"].startswith("affects")]
    assert affected == [("nginx/sites-enabled/www.conf", 1, "affects www.example.com"),
                        ("nginx/sites-enabled/api.conf", 1, "affects api.example.com")]


def test_an_include_is_diagnosed_once_not_as_an_inferred_cycle(tmp_path: Path):
    """linuxserver/docker-baseimage-alpine-nginx: root/etc/nginx/nginx.conf holds only
    `include /config/nginx/nginx.conf;`. Mapping /config/nginx onto its own folder made it
    include itself: MTLS910 (inferred) and MTLS902 (cycle) on one include. The deployed file
    is another one: one MTLS901, saying why the file here is not it."""
    (tmp_path / ".git").mkdir()
    etc = tmp_path / "root" / "etc" / "nginx"
    etc.mkdir(parents=True)
    (etc / "nginx.conf").write_text("include /config/nginx/nginx.conf;\n")
    document = lint_json(".", cwd=tmp_path)
    found = [(f["file"], f["line"], f["rule"]) for f in document["findings"]]
    assert found == [("root/etc/nginx/nginx.conf", 1, "MTLS901")], found
    assert "whose nginx.conf is this file itself" in document["findings"][0]["message"]


@pytest.mark.parametrize("path,cloudflare", [
    ("/etc/letsencrypt/live/shop.example.com/chain.pem", False),
    ("/etc/nginx/certs/origin-pull-ca.pem", True)])
def test_cloudflare_advice_only_about_a_cloudflare_file(tmp_path: Path, path: str,
                                                        cloudflare: bool):
    """Issue 21 item 9: a CA file on the deployed host (MTLS911) named like Cloudflare's
    origin-pull CA gets Cloudflare's advice; a Let's Encrypt chain file gets none."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "nginx.conf").write_text(PLAIN_AND_TLS.replace("CA;", path + ";"))
    document = lint_json("nginx.conf", cwd=tmp_path)
    (finding,) = [f for f in document["findings"] if f["rule"] == "MTLS911"]
    said = finding["message"] + finding["fix"]
    assert ("Cloudflare" in said) == cloudflare, said
