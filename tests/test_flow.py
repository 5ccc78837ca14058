"""The request-flow simulation answers as nginx does (facts §1-3, §7, §8), statement by
statement. Each case is a server body; the assertion is what a client gets for a URI."""

from __future__ import annotations

from pathlib import Path

import pytest

from nginx_mtls_lint.flow import MAYBE, NO, YES, Client, ServerFlow, VERIFY_VALUE, sample_uris
from nginx_mtls_lint.lint import LintOptions, analyse

HEAD = """
    listen 443 ssl;
    server_name app.example.com;
    ssl_certificate     /etc/nginx/certs/server.pem;
    ssl_certificate_key /etc/nginx/certs/server.key;
    ssl_client_certificate /etc/nginx/certs/client-ca.pem;
"""
CHECK = "if ($ssl_client_verify != SUCCESS) { return 403; }"


def server_of(tmp_path: Path, body: str, mode: str = "optional", http: str = ""):
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n" + http + "\nserver {\n" + HEAD +
                    f"    ssl_verify_client {mode};\n" + body + "\n}\n}\n")
    _, model = analyse([str(conf)], LintOptions())
    return model.configs[0].servers[0]


def gets(tmp_path, body, uri="/", kind="none", mode="optional", http="", method="GET",
         via_cloudflare=False, tls=True) -> str:
    server = server_of(tmp_path, body, mode, http)
    client = Client(kind, VERIFY_VALUE[kind] if tls else "", via_cloudflare, method)
    return ServerFlow(server).simulator.request(client, uri, tls).verdict


APP = "location / { proxy_pass http://127.0.0.1:8080; }"


@pytest.mark.parametrize("body,uri,expected", [
    # server-level rewrite directives run in file order, before a location is chosen
    (f"{CHECK}\n{APP}", "/", NO),
    (f"rewrite ^/public/(.*)$ /$1 break;\n{CHECK}\n{APP}", "/public/x", YES),
    (f"{CHECK}\nrewrite ^/public/(.*)$ /$1 break;\n{APP}", "/public/x", NO),
    # a check in one location covers that location only
    (f"location /a/ {{ {CHECK} proxy_pass http://b; }}\nlocation /b/ {{ root /srv; }}",
     "/b/x", YES),
    (f"location /a/ {{ {CHECK} proxy_pass http://b; }}\nlocation /b/ {{ root /srv; }}",
     "/a/x", NO),
    # a URI that matches no location is served from the root (nginx's compiled-in default
    # root is its welcome page, not the site's content)
    (f"root /srv;\nlocation /a/ {{ {CHECK} proxy_pass http://b; }}", "/elsewhere", YES),
    (f"location /a/ {{ {CHECK} proxy_pass http://b; }}", "/elsewhere", NO),
    # regex locations win over plain prefixes, not over ^~ or =
    (f"location /img/ {{ {CHECK} root /srv; }}\nlocation ~ \\.png$ {{ root /srv; }}",
     "/img/a.png", YES),
    (f"location ^~ /img/ {{ {CHECK} root /srv; }}\nlocation ~ \\.png$ {{ root /srv; }}",
     "/img/a.png", NO),
    # handlers of any shape hold when no path reaches content
    (f"if ($ssl_client_verify != SUCCESS) {{ return 302 https://example.com/login; }}\n{APP}",
     "/", NO),
    (f"if ($ssl_client_verify != SUCCESS) {{ return 200 \"go away\"; }}\n{APP}", "/", NO),
    ("if ($ssl_client_verify != SUCCESS) { rewrite ^ /denied last; }\n"
     "location = /denied { return 403; }\n" + APP, "/", NO),
    # error_page to a URI re-runs the server checks; to a named location it skips them
    (f"{CHECK}\nerror_page 403 /denied.html;\n{APP}", "/", NO),
    (f"{CHECK}\nerror_page 403 = @app;\nlocation @app {{ proxy_pass http://b; }}\n{APP}",
     "/", YES),
    # any status works as an escape
    ("if ($ssl_client_verify != SUCCESS) { return 404; }\nerror_page 404 = @app;\n"
     "location @app { proxy_pass http://b; }\n" + APP, "/", YES),
    # a location's error_page applies to a return in that location
    (f"location / {{ {CHECK} error_page 403 = @login; proxy_pass http://b; }}\n"
     "location @login { proxy_pass http://login; }", "/", YES),
    # ... but not to a return at server level
    (f"{CHECK}\nlocation / {{ error_page 403 = @login; proxy_pass http://b; }}\n"
     "location @login { proxy_pass http://login; }", "/", NO),
    # internal locations answer 404 to clients
    ("location /files/ { internal; root /srv; }\n" + f"location / {{ {CHECK} root /srv; }}",
     "/files/x", NO),
    # try_files falling back to a named location skips the other locations' checks
    (f"location / {{ try_files $uri @app; }}\nlocation @app {{ proxy_pass http://b; }}\n"
     f"location /x/ {{ {CHECK} }}", "/", YES),
    # map chains and set flags are followed
    ("set $ok 0;\nif ($ssl_client_verify = SUCCESS) { set $ok 1; }\n"
     f"if ($ok = 0) {{ return 403; }}\n{APP}", "/", NO),
])
def test_request_paths(tmp_path, body, uri, expected):
    assert gets(tmp_path, body, uri) == expected


def test_map_chain(tmp_path):
    http = ("map $ssl_client_verify $a { default bad; SUCCESS good; }\n"
            "map $a $b { default 1; good 0; }\n")
    body = f"if ($b) {{ return 403; }}\n{APP}"
    assert gets(tmp_path, body, http=http) == NO
    assert gets(tmp_path, body, http=http, kind="valid") == YES


def test_case_sensitive_comparison_refuses_the_valid_client(tmp_path):
    body = f"if ($ssl_client_verify != success) {{ return 403; }}\n{APP}"
    assert gets(tmp_path, body, kind="valid") == NO


@pytest.mark.parametrize("check,mode,kind,expected", [
    # empty certificate variables mean "no certificate": complete under optional only
    ('if ($ssl_client_escaped_cert = "") { return 403; }', "optional", "none", NO),
    ('if ($ssl_client_escaped_cert = "") { return 403; }', "optional_no_ca", "failed", YES),
    # a fingerprint pin holds in every mode
    ('if ($ssl_client_fingerprint != "aabbccdd") { return 403; }', "optional_no_ca",
     "failed", NO),
    # DN checks hold only under optional (a self-signed certificate names anything)
    ('if ($ssl_client_s_dn !~ "CN=origin") { return 403; }', "optional", "none", NO),
    ('if ($ssl_client_s_dn !~ "CN=origin") { return 403; }', "optional_no_ca", "failed", YES),
    # ... and nginx writes a DN as RFC 2253 whatever the certificate: `/CN=...` never equals
    ('if ($ssl_client_s_dn != "/CN=origin") { return 403; }', "optional_no_ca", "failed", NO),
    ('if ($ssl_client_s_dn = "CN=origin") { return 403; }', "optional_no_ca", "failed", YES),
    # `= FAILED` never matches; `~ FAILED` lets NONE through
    ("if ($ssl_client_verify = FAILED) { return 403; }", "optional_no_ca", "failed", YES),
    ("if ($ssl_client_verify ~ FAILED) { return 403; }", "optional_no_ca", "none", YES),
    ("if ($ssl_client_verify ~ FAILED) { return 403; }", "optional_no_ca", "failed", NO),
])
def test_certificate_variables(tmp_path, check, mode, kind, expected):
    assert gets(tmp_path, f"{check}\n{APP}", mode=mode, kind=kind) == expected


def test_verify_on_refuses_in_the_handshake_unless_an_error_page_serves(tmp_path):
    assert gets(tmp_path, APP, mode="on") == NO
    assert gets(tmp_path, f"error_page 496 = /index.html;\n{APP}", mode="on") == YES
    errors = "location = /denied.html { root /srv/errors; }"
    assert gets(tmp_path, f"error_page 495 496 =403 /denied.html;\n{errors}\n{APP}",
                mode="on") == NO
    # the same URI handed to the application is the application's answer: content
    assert gets(tmp_path, f"error_page 495 496 =403 /denied.html;\n{APP}", mode="on") == YES
    assert gets(tmp_path, f"error_page 400 = /index.html;\n{APP}", mode="on",
                kind="malformed") == YES


def test_limit_except_skips_the_locations_rewrite_directives(tmp_path):
    body = f"location / {{ {CHECK} limit_except GET {{ allow all; }} proxy_pass http://b; }}"
    assert gets(tmp_path, body, method="GET") == NO
    assert gets(tmp_path, body, method="POST") == YES
    denied = f"location / {{ {CHECK} limit_except GET {{ deny all; }} proxy_pass http://b; }}"
    assert gets(tmp_path, denied, method="POST") == NO


def test_auth_request_runs_the_subrequest(tmp_path):
    auth = f"location = /auth {{ internal; {CHECK} return 204; }}"
    assert gets(tmp_path, f"auth_request /auth;\n{auth}\n{APP}") == NO
    assert gets(tmp_path, f"auth_request /auth;\n{auth}\n{APP}", kind="valid") == YES
    # in one location only: a regex location that wins elsewhere stays open
    body = (f"{auth}\nlocation / {{ auth_request /auth; proxy_pass http://b; }}\n"
            "location ~ \\.php$ { proxy_pass http://php; }")
    assert gets(tmp_path, body, uri="/x.php") == YES
    # an external auth service: unknown, never a guess
    assert gets(tmp_path, "auth_request /ext;\nlocation = /ext { proxy_pass http://auth; }\n"
                + APP) == MAYBE


CF_REALIP = ("real_ip_header CF-Connecting-IP;\nset_real_ip_from 173.245.48.0/20;\n")


def test_realip_then_allow_list_refuses_cloudflare_itself(tmp_path):
    body = CF_REALIP + "allow 173.245.48.0/20;\ndeny all;\n" + APP
    assert gets(tmp_path, body, kind="valid", mode="on", via_cloudflare=True) == NO
    geo = "geo $realip_remote_addr $cf { default 0; 173.245.48.0/20 1; }\n"
    body = CF_REALIP + "if ($cf = 0) { return 403; }\n" + APP
    assert gets(tmp_path, body, kind="valid", mode="on", via_cloudflare=True, http=geo) == YES


def test_trusting_every_address_lets_a_direct_client_choose(tmp_path):
    body = ("real_ip_header CF-Connecting-IP;\nset_real_ip_from 0.0.0.0/0;\n"
            "satisfy any;\nallow 10.0.0.0/8;\ndeny all;\n" + APP)
    assert gets(tmp_path, body) == YES
    narrow = body.replace("0.0.0.0/0", "173.245.48.0/20")
    assert gets(tmp_path, narrow) == NO
    # Another CDN's public range: a direct client connects through it (or from it) with the
    # header it likes. A private range (an internal load balancer) it cannot reach.
    assert gets(tmp_path, body.replace("0.0.0.0/0", "151.101.0.0/16")) == YES
    assert gets(tmp_path, body.replace("0.0.0.0/0", "10.0.0.0/8")) == NO


def test_file_tests_are_unknown_not_guessed(tmp_path):
    body = "if (!-f $request_filename) { return 403; }\n" + APP
    assert gets(tmp_path, body) == MAYBE


def test_plain_http_sees_an_empty_verify_variable(tmp_path):
    assert gets(tmp_path, f"{CHECK}\n{APP}", kind="plain", tls=False) == NO
    assert gets(tmp_path, APP, kind="plain", tls=False) == YES


def test_redirect_loops_end_with_500(tmp_path):
    body = "location / { rewrite ^ /a last; }\nlocation /a { rewrite ^ / last; }"
    assert gets(tmp_path, body) == NO


def test_sample_uris_reach_every_location(tmp_path):
    server = server_of(tmp_path, "location = /exact { }\nlocation /p/ { }\n"
                       "location ~ ^/api/v[0-9]+/ { }\nlocation @named { }")
    uris = sample_uris(server)
    assert "/exact" in uris and "/p/" in uris and "/api/v0/" in uris
    assert all(u.startswith("/") for u in uris)


@pytest.mark.parametrize("regex,exempt", [
    ("^/(?!.well-known)(.*)", "/awell-knowna"),  # `.` is any character: /xwell-known too
    ("^(?!/\\b(stats|error)\\b)", "/stats"),
    ("^/(?!\\.well-known/acme-challenge/)(.*)$", "/.well-known/acme-challenge/a"),
])
def test_sample_uris_escape_a_rewrites_negative_lookahead(tmp_path, regex, exempt):
    """The URIs a redirect's lookahead leaves alone take another path (Virtualmin's and
    ISPConfig's "redirect to HTTPS")."""
    server = server_of(tmp_path, f"if ($scheme = http) {{ rewrite {regex} https://$host/$1 "
                       "break; }")
    assert exempt in sample_uris(server)
    body = f"if ($scheme = http) {{ rewrite {regex} https://$host/$1 break; }}\n{APP}"
    assert gets(tmp_path, body, exempt, kind="plain", tls=False) == YES
    assert gets(tmp_path, body, "/x", kind="plain", tls=False) == NO


def test_trace_command_shows_the_open_path_of_the_demo_finding():
    import json

    from conftest import FIXTURES, run_cli

    demo = FIXTURES / "demo" / "nginx" / "nginx.conf"
    text = run_cli("trace", str(demo), "--server", "api.example.com", "--uri", "/docs/")
    assert text.returncode == 1, text.stderr  # a client without a certificate gets content
    out = text.stdout.decode()
    assert "a client without a certificate" in out and "api.conf:12" in out
    assert "static files from root /srv/api" in out
    result = run_cli("trace", str(demo), "--server", "api.example.com", "--uri", "/docs/",
                     "--client", "none", "--format", "json")
    document = json.loads(result.stdout)
    (first,) = document["servers"][0]["results"]
    assert first["reaches_content"] == "yes" and first["location"] == "/docs/"
    # the index module's internal redirect chooses the location again
    assert [s["line"] for s in first["steps"]] == [12, None, 12, 13]
    missing = run_cli("trace", str(demo), "--server", "nowhere.example.com")
    assert missing.returncode == 2 and b"no server matches" in missing.stderr


def test_findings_carry_their_path():
    from conftest import FIXTURES

    from nginx_mtls_lint.lint import LintOptions, lint

    result = lint([str(FIXTURES / "demo" / "nginx" / "nginx.conf")], LintOptions())
    optional = next(f for f in result.findings if f.rule == "MTLS002")
    assert [(step.line, step.label) for step in optional.trace][:1] == [(15, "location /")]
    # each open location once, as a related location (one cause, one finding)
    assert [(r.line, r.label.split(":")[1].strip()) for r in optional.related
            if r.label.startswith("open:")] == [(15, "`location /`"), (12, "`location /docs/`")]


def test_a_location_chosen_again_after_an_internal_redirect_says_for_which_uri():
    """The demo's /docs/: the index file redirects to /docs/index.html, which chooses
    `location /docs/` again; the trace says so instead of showing the location twice."""
    from conftest import FIXTURES

    from nginx_mtls_lint.lint import LintOptions, lint

    result = lint([str(FIXTURES / "demo" / "nginx" / "nginx.conf")], LintOptions())
    server = next(s for s in result.model.configs[0].servers if "api.example.com" in s.names)
    path = next(p for p in result.analysis.flow(server).open_paths(("none",))
                if p.uri == "/docs/")
    labels = [step.label for step in path.outcome.trace if step.label.startswith("location")]
    assert labels == ["location /docs/", "location /docs/ for /docs/index.html"]


@pytest.mark.parametrize("location,expected", [
    ('return 403 "no";', NO),  # a text is sent as it is: no error_page
    ("return 403;", YES),  # a bare status goes through error_page
    ("return 302 /elsewhere;", YES),  # so does a redirect (seen on nginx 1.22.1)
    ("rewrite ^ /elsewhere redirect;", YES),
])
def test_which_returns_error_page_takes(tmp_path, location, expected):
    body = ("error_page 403 302 = @app;\nlocation @app { proxy_pass http://b; }\n"
            f"location / {{ {location} }}")
    assert gets(tmp_path, body) == expected


LUA = 'access_by_lua_block { if ngx.var.ssl_client_verify ~= "SUCCESS" then return ngx.exit(403) end }'


@pytest.mark.parametrize("body,kind,expected", [
    # Lua code that reads the certificate decides where the linter cannot see: unknown
    (f"{LUA}\n{APP}", "none", MAYBE),
    (f"location / {{ {LUA} proxy_pass http://127.0.0.1:8080; }}", "none", MAYBE),
    ("access_by_lua_file /etc/nginx/lua/check.lua;\n" + APP, "none", MAYBE),
    (f"{LUA}\n{APP}", "valid", YES),
    # Lua code that does not read it checks nothing; a location's own Lua replaces the server's
    (LUA.replace("ssl_client_verify", "http_x_debug") + "\n" + APP, "none", YES),
    (f"{LUA}\nlocation / {{ access_by_lua_block {{ ngx.log(ngx.INFO, 'x') }} "
     "proxy_pass http://127.0.0.1:8080; }", "none", YES),
])
def test_lua_access_handlers(tmp_path, body, kind, expected):
    assert gets(tmp_path, body, kind=kind) == expected


def test_a_location_lua_handler_of_another_form_replaces_the_servers(tmp_path):
    body = (f"{LUA}\nlocation / {{ access_by_lua_file /etc/nginx/lua/log.lua; "
            "proxy_pass http://127.0.0.1:8080; }")
    assert gets(tmp_path, body) == MAYBE  # the file may check: unknown, not the server's code
    body = ("access_by_lua_file /etc/nginx/lua/check.lua;\nlocation / { access_by_lua_block "
            "{ ngx.log(ngx.INFO, 'x') } proxy_pass http://127.0.0.1:8080; }")
    assert gets(tmp_path, body) == YES


FLAG = ("set $reject 0;\nif ($ssl_client_verify != SUCCESS) { set $reject 1; }\n"
        "%s\nif ($reject) { return 403; }\n" + APP)


@pytest.mark.parametrize("exemption,uri,expected", [
    # $request_uri is the request line as written: `/healthz/../admin` starts with /healthz
    # and nginx normalizes it to /admin, which location / serves
    ("if ($request_uri ~ ^/healthz) { set $reject 0; }", "/admin", YES),
    # ... but an anchored whole-URI match cannot be written around
    ("if ($request_uri ~ ^/healthz$) { set $reject 0; }", "/admin", NO),
    ("if ($request_uri = /healthz) { set $reject 0; }", "/admin", NO),
    ("if ($request_uri = /healthz) { set $reject 0; }", "/healthz", YES),
    # $uri is the normalized form: it cannot be written around
    ("if ($uri ~ ^/healthz) { set $reject 0; }", "/admin", NO),
])
def test_request_uri_is_written_by_the_client(tmp_path, exemption, uri, expected):
    assert gets(tmp_path, FLAG % exemption, uri) == expected


def test_request_uri_map_is_written_by_the_client(tmp_path):
    http = "map $request_uri $public { default 0; ~^/healthz 1; }"
    body = FLAG % "if ($public) { set $reject 0; }"
    assert gets(tmp_path, body, "/admin", http=http) == YES
    anchored = "map $request_uri $public { default 0; /healthz 1; }"
    assert gets(tmp_path, body, "/admin", http=anchored) == NO


@pytest.mark.parametrize("names,default,expected", [
    ("app.example.com", "", NO),  # one name: $host is that name
    ("app.example.com public.example.com", "", YES),  # whichever the client sends
    ("*.example.com", "", YES),
    ("app.example.com", " default_server", YES),  # the default server: any name at all
])
def test_host_is_the_name_the_client_sends(tmp_path, names, default, expected):
    conf = tmp_path / "nginx.conf"
    other = ("server { listen 443 ssl default_server; server_name other.example.com; "
             "ssl_certificate a.pem; ssl_certificate_key a.key; }") if not default else ""
    body = FLAG % "if ($host = public.example.com) { set $reject 0; }"
    conf.write_text("events {}\nhttp {\nserver {\n" + HEAD.replace("443 ssl", "443 ssl" + default)
                    .replace("server_name app.example.com;", "")
                    + f"server_name {names};\nssl_verify_client optional;\n{body}\n}}\n"
                    + other + "\n}\n")
    _, model = analyse([str(conf)], LintOptions())
    server = model.configs[0].servers[0]
    client = Client("none", "NONE", False, "GET")
    assert ServerFlow(server).simulator.request(client, "/").verdict == expected


def test_methods_an_if_names_are_tried(tmp_path):
    server = server_of(tmp_path, FLAG % "if ($request_method ~ ^(OPTIONS|HEAD)$) "
                                         "{ set $reject 0; }")
    flow = ServerFlow(server)
    assert flow.methods() == ("GET", "OPTIONS", "HEAD")
    assert {p.client.method for p in flow.open_paths(("none",))} == {"OPTIONS", "HEAD"}


@pytest.mark.parametrize("mode,kind,expected", [
    ("optional", "none", NO),
    ("optional", "valid", YES),
    # a self-signed certificate names any CN: the capture is the client's choice
    ("optional_no_ca", "failed", YES),
])
def test_regex_captures_of_an_if(tmp_path, mode, kind, expected):
    body = ('set $cn "";\nif ($ssl_client_s_dn ~ "CN=([^,]+)") { set $cn $1; }\n'
            'if ($cn != "edge.client.example") { return 403; }\n' + APP)
    assert gets(tmp_path, body, kind=kind, mode=mode) == expected


def test_captures_of_a_literal_value(tmp_path):
    body = ('if ($uri ~ ^/(?<section>[a-z]+)/) { set $s $1; }\n'
            'if ($section = admin) { return 403; }\nif ($s = admin) { return 403; }\n' + APP)
    assert gets(tmp_path, body, "/admin/x", kind="valid") == NO
    assert gets(tmp_path, body, "/shop/x", kind="valid") == YES


def test_a_rewrite_makes_the_request_internal(tmp_path):
    # ngx_http_script_regex_end_code sets r->internal: `internal` locations serve it
    body = (f"location / {{ {CHECK} proxy_pass http://b; }}\n"
            "location /files/ { rewrite ^/files/(.*)$ /protected/$1 last; }\n"
            "location /protected/ { internal; root /srv; }")
    assert gets(tmp_path, body, "/files/x") == YES
    assert gets(tmp_path, body, "/protected/x") == NO


def test_methods_a_map_names_are_tried(tmp_path):
    http = ('map "$ssl_client_verify:$request_method" $reject '
            '{ default 1; "~^SUCCESS:" 0; "NONE:OPTIONS" 0; }')
    server = server_of(tmp_path, "if ($reject) { return 403; }\n" + APP, http=http)
    flow = ServerFlow(server)
    assert flow.methods() == ("GET", "OPTIONS")
    assert {p.client.method for p in flow.open_paths(("none",))} == {"OPTIONS"}


@pytest.mark.parametrize("body,uri,expected", [
    # a directory URI's index file is an internal redirect: the location is chosen again
    (f"root /srv;\nlocation = / {{ expires 1m; }}\nlocation / {{ {CHECK} }}", "/", NO),
    (f"root /srv;\nlocation ~ \\.html$ {{ {CHECK} }}\nlocation /docs/ {{ }}", "/docs/", NO),
    (f"root /srv;\nlocation ~ \\.html$ {{ {CHECK} }}\nlocation /docs/ {{ }}", "/docs/a.pdf",
     YES),
    # `index` names another file: the redirect goes there
    (f"root /srv;\nlocation ~ \\.html$ {{ {CHECK} }}\nlocation /docs/ {{ index a.txt; }}",
     "/docs/", YES),
    # an upstream serves the directory URI itself
    (f"location = / {{ proxy_pass http://b; }}\nlocation / {{ {CHECK} proxy_pass http://b; }}",
     "/", YES),
])
def test_index_redirect(tmp_path, body, uri, expected):
    assert gets(tmp_path, body, uri) == expected


def test_a_rewrite_to_the_same_uri_still_chooses_the_location_again(tmp_path):
    # ngx_http_core_post_rewrite_phase looks at r->uri_changed, not at the string: the
    # cycle ends in 500 after 10 changes, and error_page does not take it
    body = ("error_page 500 = @app;\nlocation @app { proxy_pass http://b; }\n"
            "location /denied { rewrite ^/denied(.*)$ /denied$1 last; root /srv; }")
    assert gets(tmp_path, body, "/denied") == NO
    # `break` cancels the change: the location's own files are served
    body = "location /denied { rewrite ^/denied(.*)$ /denied$1; break; root /srv; }"
    assert gets(tmp_path, body, "/denied") == YES


def test_map_values_name_the_captures_of_their_key(tmp_path):
    http = ('map $ssl_client_verify $result { "~^(?<word>[A-Z]+)" $word; default x; }\n'
            'map $ssl_client_verify $first { "~^([A-Z])" $1; default x; }')
    for check in ("if ($result != SUCCESS) { return 403; }",
                  "if ($first != S) { return 403; }"):
        assert gets(tmp_path, f"{check}\n{APP}", http=http) == NO
        assert gets(tmp_path, f"{check}\n{APP}", http=http, kind="valid") == YES


def test_the_query_string_is_written_by_the_client(tmp_path):
    assert gets(tmp_path, FLAG % 'if ($args ~ "preview=1") { set $reject 0; }') == YES
    http = "map $query_string $preview { default 0; ~preview=1 1; }"
    assert gets(tmp_path, FLAG % "if ($preview) { set $reject 0; }", http=http) == YES
    # elsewhere the simulated request has none: `try_files ... /index.php?$args` is a URI
    body = (f"{CHECK}\nlocation / {{ try_files $uri /index.php?$args; }}\n"
            "location = /index.php { fastcgi_pass 127.0.0.1:9000; }")
    assert gets(tmp_path, body) == NO


@pytest.mark.parametrize("names,root,extra,expected", [
    ("_", "/var/www/html", "", False),  # Debian's default site: the welcome page
    ("localhost", "/usr/share/nginx/html/", "", False),  # the docker image's default.conf
    ("app.example.com", "/var/www/html", "", True),  # a site of its own, wherever its files are
    ("_", "/var/www/app", "", True),
    ("_", "/var/www/html", "location ~ \\.php$ { fastcgi_pass 127.0.0.1:9000; }", True),
])
def test_the_distributions_default_page_is_no_sites_content(tmp_path, names, root, extra,
                                                             expected):
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\nserver {\n    listen 443 ssl default_server;\n"
                    f"    server_name {names};\n    root {root};\n"
                    "    location / { try_files $uri $uri/ =404; }\n"
                    f"    location /img/ {{ }}\n    {extra}\n}}\n}}\n")
    _, model = analyse([str(conf)], LintOptions())
    assert ServerFlow(model.configs[0].servers[0]).serves_content() is expected


def test_the_nginx_packages_default_site_roots_its_locations(tmp_path):
    """conf.d/default.conf of the nginx.org package (and the docker image)."""
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\nserver {\n    listen 443 ssl;\n"
                    "    server_name localhost;\n"
                    "    location / { root /usr/share/nginx/html; index index.html; }\n"
                    "    error_page 500 502 503 504 /50x.html;\n"
                    "    location = /50x.html { root /usr/share/nginx/html; }\n}\n}\n")
    _, model = analyse([str(conf)], LintOptions())
    assert ServerFlow(model.configs[0].servers[0]).serves_content() is False


def test_the_stock_root_a_protected_server_shares_its_name_with_is_content(tmp_path):
    """A demonstration of client certificates protects the welcome page itself: its plain
    twin serves what the protected server protects."""
    conf = tmp_path / "nginx.conf"
    site = "    server_name localhost;\n    location / { root /usr/share/nginx/html; }\n"
    conf.write_text("events {}\nhttp {\nserver {\n    listen 80;\n" + site + "}\n"
                    "server {\n    listen 443 ssl;\n    ssl_client_certificate ca.pem;\n"
                    "    ssl_verify_client on;\n" + site + "}\n}\n")
    _, model = analyse([str(conf)], LintOptions())
    plain, protected = model.configs[0].servers
    assert ServerFlow(plain).serves_content() and ServerFlow(protected).serves_content()


@pytest.mark.parametrize("location,expected", [
    # Debian's snippets/fastcgi-php.conf: an existing script goes to PHP (index.php exists)
    ("location ~ \\.php$ { try_files $fastcgi_script_name =404; fastcgi_pass 127.0.0.1:9000; }",
     YES),
    ("location ~ \\.php$ { try_files $uri =404; proxy_pass http://127.0.0.1:8080; }", YES),
    # static files: which exist is the file system's business
    ("location ~ \\.php$ { root /srv; try_files $uri =404; }", MAYBE),
])
def test_try_files_guarding_an_application(tmp_path, location, expected):
    body = f"location / {{ {CHECK} proxy_pass http://b; }}\n{location}"
    assert gets(tmp_path, body, "/index.php") == expected
