"""The content phase: what answers a request that got past the checks.

Each content module is one entry of CONTENT_HANDLERS, tried in order (try_files in the
precontent phase, then the location's handler: an upstream, a fixed module, static files);
the first that takes the request answers it."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Callable

from ..model import Server
from ..parser import Stmt
from ..records import Location, TryFiles, walk
from .conf import Conf, own_chain
from .values import YES, Unmodelled, because, is_limit, Outcome, Result, State, Step, client_choice, unknown_choice

if TYPE_CHECKING:
    from .phases import Simulator

UPSTREAM = ("proxy_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "grpc_pass",
            "memcached_pass")
FORWARDING = ("proxy_set_header", "fastcgi_param", "uwsgi_param", "scgi_param",
              "grpc_set_header")
# Content handlers of modules that run code (ngx_http_perl_module, njs, OpenResty).
MODULE_HANDLERS = ("perl", "js_content", "content_by_lua", "content_by_lua_block",
                   "content_by_lua_file")
# Handlers serving the root's files in other forms (a listing, a random file, video seeking,
# WebDAV methods): the static module's content.
FILE_HANDLERS = ("autoindex", "random_index", "flv", "mp4", "dav_methods")
SITE_PAGE = re.compile(r"(^|/)(index\.[a-z]+)?$")
ACME = "/.well-known/acme-challenge/"
# Where distributions put nginx's welcome page (Debian's sites-available/default, the docker
# image's conf.d/default.conf): a catch-all server's static files there are no site's content.
# What ngx_http_static_handler and ngx_http_index_handler take; any other method is 405.
STATIC_METHODS = ("GET", "HEAD", "POST")
STOCK_ROOTS = frozenset(("/var/www/html", "/usr/share/nginx/html"))


def _try_files_module(sim: "Simulator", state: State, conf: Conf) -> Result | None:
    stmt = own_chain(conf, "try_files")
    if stmt is None or len(stmt.args) < 2:
        return None
    try_files = TryFiles.of(stmt)
    state = state.step(stmt, "try_files " + " ".join(stmt.args))
    fallback = try_files.fallback
    root = _root(conf)
    application = _application(conf)
    not_site = _not_site_files(state, conf.location) or _stock_page(sim, root) or \
        ("" if application is not None else _default_root(root))
    files = Result.leaf(Outcome("errorfile" if not_site else "content", 200, stmt,
                                conf.location, state.trace, not_site))
    if application is not None and not not_site:  # the application serves what is found
        found = state.step(application, f"{application.name} {' '.join(application.args)}")
        files = Result.leaf(Outcome("content", 200, application, conf.location, found.trace))
    if fallback.startswith("="):
        code = int(fallback[1:]) if fallback[1:].isdigit() else 404
        other = sim.finalize(state, conf, code, stmt)
    elif fallback.startswith("@"):
        other = sim.named(state, fallback[1:])
    else:
        target = sim.values.interpolate(fallback, state)
        if not isinstance(target, str):
            why = because("try_files falls back to a URI computed from ",
                          sim.values.unknown_reason(fallback, state), stmt)
            other = Result.leaf(Outcome("unknown", 0, stmt, conf.location, state.trace, why,
                                        limit=is_limit(why)))
        else:
            other = sim.internal_redirect(replace(state, variables=dict(
                state.variables)), target)
    # Which files exist is the file system's business, unless the configuration names
    # one outright (`try_files /index.html ...`): a site has the files it names; nor
    # when an application serves what is found (`try_files $uri =404;` or Debian's
    # `try_files $fastcgi_script_name =404;` before `fastcgi_pass`): that check only
    # guards the application, and a client asks for a script that exists (index.php).
    # The fallback first, so that when both serve content the path shown is the one the
    # configuration decides.
    if state.from_error_page or any("$" not in c for c in try_files.files) or \
            application is not None:
        return client_choice([files, other])  # a URI or file the configuration names
    if not_site:  # not the site's files: the client asks for one missing, and falls back
        return client_choice([other, files])
    return unknown_choice([other, files])


def _upstream_module(sim: "Simulator", state: State, conf: Conf) -> Result | None:
    """proxy_pass and its kin: the application answers."""
    handler = _application(conf)
    if handler is None:
        return None
    location = conf.location
    state = state.step(handler, f"{handler.name} {' '.join(handler.args)}")
    served = Result.leaf(Outcome("content", 200, handler, location, state.trace))
    intercept = conf.get(handler.name.replace("_pass", "_intercept_errors"))
    if intercept is not None and intercept.args[:1] == ["on"]:
        # The application's own error statuses go through error_page: when one serves
        # content, the client gets content whatever the application answers.
        codes = sorted({int(code) for page in conf.error_pages() for code in page.codes})
        for code in codes:
            answer = sim.finalize(state.step(intercept, f"the upstream answers {code}"),
                                  conf, code, handler)
            if answer.verdict == YES:
                return answer
    forwarded = _forwarded_check(conf) if sim.delegates else None
    if forwarded is not None and sim.values.client.kind not in ("valid", "probe"):
        return Result.leaf(Outcome(
            "unknown", 0, forwarded, location, state.trace + (Step(forwarded, (
                "the application receives the certificate check and may refuse")),),
            f"the application receives {forwarded.args[-1]} "
            f"(`{forwarded.name} {' '.join(forwarded.args)}`) and may refuse"))
    return served


def _module_handler(sim: "Simulator", state: State, conf: Conf) -> Result | None:
    """A module's content handler (perl, njs, Lua): its code is the application. When that
    code may refuse by the certificate (it reads one, or lives in a file the linter does not
    read), what a client without a valid one gets is not known: "cannot prove"."""
    handler = next((own_chain(conf, name) for name in MODULE_HANDLERS
                    if own_chain(conf, name) is not None), None)
    if handler is None:
        return None
    state = state.step(handler, f"{handler.name} {' '.join(handler.args)}"[:120])
    if sim.values.client.kind not in ("valid", "probe") and module_may_check(handler):
        return Result.leaf(Outcome(
            "unknown", 0, handler, conf.location, state.trace, Unmodelled(
                f"`{handler.name} {' '.join(handler.args)[:60]}` answers with code the "
                "analysis does not run, and that code may refuse by the certificate",
                handler.name, handler, handler),
            limit=True))
    return Result.leaf(Outcome("content", 200, handler, conf.location, state.trace))


def module_may_check(stmt: Stmt) -> bool:
    """Whether a module handler's code may read the client certificate: it names one, or
    lives elsewhere (a file, a Perl or JavaScript module the linter does not read)."""
    inline = stmt.name.endswith("_block") or stmt.name == "content_by_lua" or (
        stmt.name == "perl" and bool(stmt.args) and stmt.args[0].lstrip().startswith("sub"))
    return not inline or any("ssl_client" in arg for arg in stmt.args)


def _fixed_module(sim: "Simulator", state: State, conf: Conf) -> Result | None:
    """stub_status, empty_gif: a fixed answer, never the site's content."""
    for name in ("stub_status", "empty_gif"):
        found = own_chain(conf, name)
        if found is not None:
            return Result.leaf(Outcome("text", 200, found, conf.location, state.trace))
    return None


def _static_module(sim: "Simulator", state: State, conf: Conf) -> Result | None:
    """ngx_http_index and ngx_http_static: files from the root."""
    location = conf.location
    root = _root(conf)
    not_site = _not_site_files(state, location) or _stock_page(sim, root) or \
        _default_root(root)
    if not_site:
        return Result.leaf(Outcome("errorfile", 200, root, location, state.trace, not_site))
    if state.method not in STATIC_METHODS:
        return _not_allowed(state, root, location)
    index = conf.get("index")
    name = index.args[0] if index is not None and index.args else "index.html"
    if state.uri.endswith("/") and "$" not in name:
        # ngx_http_index_handler: a directory's index file is an internal redirect, which
        # chooses the location (and runs the server's checks) again.
        target = name if name.startswith("/") else state.uri + name
        state = state.step(index, f"index file: internal redirect to {target}")
        return sim.internal_redirect(state, target)
    directory = _directory_path(conf, state.uri)
    if directory:
        state = state.step(root, f"{directory} is a directory: 301 to {state.uri}/")
        return Result.leaf(Outcome("redirect", 301, root, location, state.trace))
    if state.method == "POST":  # ngx_http_static_handler, once the file is found
        return _not_allowed(state, root, location)
    label = f"static files from {root.name} {root.args[0]}" if root is not None and \
        root.args else "static files from nginx's default root"
    handler = next((found for name in FILE_HANDLERS if (found := conf.get(name)) is not None
                    and found.args[:1] != ["off"]), None)
    if handler is not None:
        label += f" (through `{handler.name} {' '.join(handler.args)}`)"
    state = state.step(root, label)
    return Result.leaf(Outcome("content", 200, root, location, state.trace))


def _not_allowed(state: State, root: Stmt | None, location: Location | None) -> Result:
    """ngx_http_static_handler (and the index module) answer only GET, HEAD and POST, and
    POST to a file (the index module redirects it to the index file first): 405."""
    state = state.step(root, f"static files answer {state.method} with 405")
    return Result.leaf(Outcome("reject", 405, root, location, state.trace))


ContentModule = Callable[["Simulator", State, Conf], "Result | None"]
# Tried in order; the last always answers.
CONTENT_HANDLERS: tuple[ContentModule, ...] = (
    _try_files_module, _upstream_module, _module_handler, _fixed_module, _static_module)


def content_phase(sim: "Simulator", state: State, conf: Conf) -> Result:
    for module in CONTENT_HANDLERS:
        result = module(sim, state, conf)
        if result is not None:
            return result
    raise AssertionError("the static module answers every request")


def _application(conf: Conf) -> Stmt | None:
    """The location's upstream handler (not inherited into nested locations)."""
    return next((conf.get(name) for name in UPSTREAM if own_chain(conf, name) is not None),
                None)


def _default_root(root: Stmt | None) -> str:
    """Why files from nginx's compiled-in default root (no root or alias on the way) are
    not the site's content: that is the package's welcome page, or nothing."""
    return "" if root is not None else \
        "nginx's compiled-in default root (its welcome page, not the site's content)"


def _root(conf: Conf) -> Stmt | None:
    return conf.get("alias") if own_chain(conf, "alias") is not None else conf.get("root")


def _directory_path(conf: Conf, uri: str) -> str:
    """The path ngx_http_map_uri_to_path gives `uri` (not ending in "/") when an alias makes
    it a directory's (ending in "/"): the alias replaces the location's prefix (the whole
    path in a regex location). ngx_http_static_handler then finds a directory and answers
    301 to the URI with a slash, never a file."""
    alias, location = own_chain(conf, "alias"), conf.location
    if alias is None or location is None or not alias.args or "$" in alias.args[0] or \
            uri.endswith("/"):
        return ""
    path = alias.args[0] if location.modifier in ("~", "~*") else \
        alias.args[0] + uri[len(location.pattern):]
    return path if path.endswith("/") else ""


def _forwarded_check(conf: Conf) -> Stmt | None:
    """A header or parameter handing the verification result to the application (which
    may refuse, as nginx cannot tell)."""
    for stmt in conf.group(*FORWARDING):
        if any("$ssl_client_verify" in a for a in stmt.args[1:]):
            return stmt
    return None


def _not_site_files(state: State, location: Location | None) -> str:
    """Why static files served here are not the site's content: ACME challenge tokens,
    or a dedicated error file an error_page sent the request to."""
    if state.uri.startswith(ACME) or (location is not None and
                                      location.pattern.startswith(ACME)):
        return "ACME challenge files"
    if state.from_error_page and not SITE_PAGE.search(state.from_error_page):
        return "a dedicated error file"
    return ""


def _stock_page(sim: "Simulator", root: Stmt | None) -> str:
    """Why a catch-all server's static files are not the site's content: the
    distribution's welcome page (see stock_site)."""
    return "the distribution's default page" if sim.stock_site and root is not None \
        and _stock_root(root) else ""


def _stock_root(stmt: Stmt) -> bool:
    return stmt.name in ("root", "alias") and bool(stmt.args) and \
        stmt.args[0].rstrip("/") in STOCK_ROOTS


def stock_site(server: Server) -> bool:
    """A catch-all server (no name of its own: `_`, `localhost`) with a root in the
    distribution's stock document root: what it serves from there is the welcome page.
    Not when it verifies clients, or shares its name with a server that does: there the
    stock root is what is protected (a demonstration of client certificates)."""
    if any(name not in ("", "_", "localhost") for name in server.names):
        return False
    config = getattr(server, "config", None)
    # (verification inherited by a server without TLS applies to nothing)
    if (server.verifies_clients and server.tls_on) or (
            config is not None and config.protected_twin(server)):
        return False
    root = server.http.first("root")
    return (root is not None and _stock_root(root)) or any(
        _stock_root(stmt) for stmt in walk(server.stmt.block))
