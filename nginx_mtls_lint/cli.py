"""Command line: `nginx-mtls-lint [PATH ...]` (lint), `inspect`, `rules`, `explain`, `probe`, `trace`.

Exit codes: 0 nothing at or above --fail-on, 1 findings, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import sys
import textwrap
from typing import Any, Callable, Iterable, NoReturn, Sequence, TextIO

from . import __version__
from .errors import UsageError
from .paths import DEFAULT_ROOT, absolute, normal_path
from .report import FORMATS as REPORTERS  # names only: report/__init__ imports no format
# The rest is imported where a command needs it: `--version` and `--help` import no more.

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
COMMANDS = ("lint", "inspect", "rules", "explain", "probe", "trace", "compare")
# One line per subcommand, for `--help` (a test checks every command is listed).
COMMAND_HELP = {
    "lint": "lint nginx configuration (the default: `nginx-mtls-lint PATH` = `lint PATH`)",
    "inspect": "every server as nginx runs it, each value with the file:line behind it",
    "rules": "list the rules and the tool's own diagnostics",
    "explain": "show a rule's documentation: why, example, fix",
    "probe": "connect to an origin you name and show which clients without a valid "
             "certificate get content (--from-config: compare with a configuration)",
    "trace": "follow one request through a server's phases and print every directive on "
             "its path",
    "compare": "compare two configurations (manifests, nginx trees, an `nginx -T` dump) per "
               "host, port, path and client; fail when one gets weaker",
}
DESCRIPTION = ("Prove that Cloudflare-fronted (and any client-certificate-protected) nginx "
               "virtual hosts cannot be reached around Cloudflare. Commands: lint (the "
               f"default), {', '.join(c for c in COMMANDS if c != 'lint')}.")
# Every command's exit codes, in its --help (the README lists the same).
EXIT_CODES = {
    "lint": "exit codes: 0 no finding at or above --fail-on (or --exit-zero, "
            "--write-baseline); 1 findings; 2 usage, configuration or input error (nothing "
            "could be linted)",
    "inspect": "exit codes: 0 the servers were shown; 2 usage or input error",
    "rules": "exit codes: 0 always (2 for a usage error)",
    "explain": "exit codes: 0 the page was shown; 2 unknown rule or usage error",
    "compare": "exit codes: 0 nothing weakens; 1 a cell (host, port, path, kind of client "
               "other than the valid one) goes from refused to open or to 'cannot prove'; 2 "
               "usage or input error",
    "trace": "exit codes: 0 no client without a valid certificate gets content on the "
             "path traced; 1 one does; 2 no server matches, or a usage or input error",
    "probe": "exit codes: 0 no client without a valid certificate got content (unreachable "
             "cases listed as such); 1 some client got content (with --from-config also: the "
             "origin disagrees with the analysis); 2 no case reached the origin "
             "(refused, timed out, reset, no route, not TLS, not HTTP), or a usage error. A "
             "TLS alert from the origin counts as a rejection, an origin that cannot be "
             "reached never does.",
}
FINGERPRINT = re.compile(r"^[0-9A-Fa-f]{2}(:?[0-9A-Fa-f]{2}){31}$")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, like argparse but shorter
        raise UsageError(message)


def path_map(text: str) -> tuple[str, str]:
    source, sep, target = text.partition("=")
    if not sep or not absolute(source) or not target:
        raise argparse.ArgumentTypeError(f"expected /ABSOLUTE/SRC=DIR, got {text!r}")
    return normal_path(source).rstrip("/") or "/", target


def ingress_class(text: str) -> tuple[str, str]:
    from .config import ingress_class_error
    klass, sep, controller = text.partition("=")
    problem = ingress_class_error(klass, controller) if sep else "expected CLASS=CONTROLLER"
    if problem:
        raise argparse.ArgumentTypeError(f"{problem}, got {text!r}")
    return klass, controller


def configmap_ref(text: str) -> str:
    from .config import configmap_error
    problem = configmap_error(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def expected_ca(text: str) -> tuple[str, frozenset[str]]:
    pattern, sep, prints = text.partition("=")
    fingerprints = [p.strip() for p in prints.split(",") if p.strip()]
    if not sep or not pattern or not fingerprints or \
            not all(FINGERPRINT.match(p) for p in fingerprints):
        raise argparse.ArgumentTypeError(
            f"expected HOST_PATTERN=SHA256[,SHA256...] (64 hex digits, colons allowed), "
            f"got {text!r}")
    return pattern, frozenset(p.replace(":", "").upper() for p in fingerprints)


def add_input_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="nginx.conf, a directory, a fragment, or - for `nginx -T` "
                             "output on stdin (default: the git work tree around the working "
                             f"directory when it holds nginx files, else {DEFAULT_ROOT})")
    parser.add_argument("--config", metavar="FILE",
                        help="configuration file (default: the nearest .nginx-mtls-lint.yaml "
                             "or pyproject.toml [tool.nginx-mtls-lint] upward)")
    parser.add_argument("--prefix", metavar="DIR",
                        help="directory relative includes and certificates resolve against "
                             "(default: the folder of nginx.conf)")
    parser.add_argument("--path-map", action="append", type=path_map, metavar="/SRC=DIR",
                        help="read absolute paths under /SRC from DIR (repeatable), e.g. "
                             "--path-map /etc/nginx=./nginx; or one file from another: "
                             "--path-map /etc/ssl/ca.pem=certs/ca.pem; Windows paths too "
                             "(C:/nginx/conf=nginx)")
    parser.add_argument("--no-infer-paths", dest="infer_paths", action="store_false",
                        default=None,
                        help="in a checkout, do not map /etc/nginx (or another standard "
                             "prefix) onto the tree when the tree holds the included paths")
    parser.add_argument("--extend-include", action="append", metavar="PATTERN",
                        help="files matching PATTERN (shell glob on the path below a folder "
                             "given, or on the name: '*.nginx', 'api/*.vhost') are nginx "
                             "configuration too (repeatable; also extend-include: in the "
                             "configuration file)")
    parser.add_argument("--read-outside-tree", action="store_true",
                        help="in a checkout, also read includes outside the tree's folder "
                             "(off by default: a pull request's `include /etc/shadow;` must "
                             "not reach the report; not settable in the configuration file)")
    parser.add_argument("--cloudflare-host", action="append", metavar="PATTERN",
                        help="treat servers whose server_name matches PATTERN (shell glob) "
                             "as Cloudflare-fronted (repeatable)")
    parser.add_argument("--cloudflare-exclude", action="append", metavar="PATTERN",
                        help="never treat servers whose server_name matches PATTERN as "
                             "Cloudflare-fronted (repeatable)")
    parser.add_argument("--assume-cloudflare", action="store_true", default=None,
                        help="treat every server as Cloudflare-fronted")
    parser.add_argument("--expect-ca", action="append", type=expected_ca,
                        metavar="PATTERN=SHA256",
                        help="client CA fingerprint(s) expected for matching hosts, for "
                             "zone-level or per-hostname Authenticated Origin Pulls")
    parser.add_argument("--ingress-configmap", type=configmap_ref, metavar="NAMESPACE/NAME",
                        help="Kubernetes: the ingress-nginx controller's ConfigMap, when it is "
                             "not named ingress-nginx-controller (also kubernetes: "
                             "ingress-configmap: in the configuration file)")
    parser.add_argument("--ingress-class", action="append", type=ingress_class,
                        metavar="CLASS=CONTROLLER",
                        help="Kubernetes: the controller (ingress-nginx or nginx-ingress) of "
                             "Ingresses of CLASS when no IngressClass in the input says; CLASS "
                             "* for Ingresses that name no controller at all (repeatable)")
    parser.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE")


def nginx_version(text: str):
    from .versions import VersionError, parse_target

    try:
        return parse_target(text, "--nginx-version")
    except VersionError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


FORMATS = tuple(REPORTERS)  # one Reporter each (report/__init__.py)


def rule_list(text: str) -> list[str]:
    """`MTLS001,verify-client-not-on`: resolved to IDs once the rules are loaded."""
    return [item.strip() for item in text.split(",") if item.strip()]


def build_parser(command: str) -> argparse.ArgumentParser:
    prog = "nginx-mtls-lint" if command == "lint" else f"nginx-mtls-lint {command}"
    commands = "\n".join(textwrap.fill(text, 79, initial_indent=f"  {name:<9} ",
                                        subsequent_indent=" " * 12)
                          for name, text in COMMAND_HELP.items())
    codes = textwrap.fill(EXIT_CODES[command], 79, break_on_hyphens=False) \
        if command in EXIT_CODES else None
    parser = Parser(prog=prog, description=DESCRIPTION,
                    formatter_class=argparse.RawDescriptionHelpFormatter,
                    epilog=f"commands (nginx-mtls-lint COMMAND --help):\n{commands}\n\n{codes}"
                    if command == "lint" else codes)
    parser.add_argument("--version", "-V", action="version",
                        version=f"nginx-mtls-lint {__version__}")
    if command == "lint":
        add_input_options(parser)
        parser.add_argument("--format", choices=FORMATS, default="console",
                            help="console (default), concise (`file:line:col: SEVERITY RULE "
                                 "message`), "
                                 "json, sarif, github, gitlab")
        parser.add_argument("--select", type=rule_list, metavar="RULES",
                            help="run only these rules (IDs or names, comma-separated); the "
                                 "tool's own MTLS9xx diagnostics are always reported")
        parser.add_argument("--ignore", type=rule_list, metavar="RULES",
                            help="do not run or report these rules (IDs or names, "
                                 "comma-separated)")
        parser.add_argument("--statistics", action="store_true",
                            help="after the report, how many findings each rule gave")
        parser.add_argument("--baseline", metavar="FILE",
                            help="findings recorded in FILE (by --write-baseline) are not "
                                 "reported and do not fail the run; new ones still do")
        parser.add_argument("--write-baseline", metavar="FILE",
                            help="record every finding of this run in FILE and exit 0")
        parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                            help="colours in console output (default: auto, off when not a "
                                 "terminal or NO_COLOR is set)")
        parser.add_argument("--sarif-category", metavar="ID",
                            help="SARIF automationDetails.id (leave unset with upload-sarif, "
                                 "whose `category` input sets it)")
        parser.add_argument("--fail-on", choices=("error", "warning", "note"),
                            help="lowest severity that makes the exit code 1 (default: warning)")
        parser.add_argument("--exit-zero", action="store_true",
                            help="exit 0 even when there are findings")
        parser.add_argument("--include-suppressed", action="store_true",
                            help="also write suppressed findings to SARIF (JSON always has them)")
        parser.add_argument("--diff", action="store_true",
                            help="print the safe fixes as one unified diff (apply it with "
                                 "`patch -p1` from this directory) instead of the report")
        parser.add_argument("--unsafe-fixes", action="store_true",
                            help="with --diff: add the fixes that can change what clients get "
                                 "(e.g. `optional` -> `on`) or use a conventional CA path")
        parser.add_argument("--expiry-warning-days", type=int, metavar="DAYS",
                            help="warn when a client CA expires within DAYS (default: 30)")
        parser.add_argument("--crl-warning-hours", type=int, metavar="HOURS",
                            help="warn when a CRL of ssl_crl expires within HOURS "
                                 "(default: 24)")
        parser.add_argument("--nginx-version", type=nginx_version, metavar="VERSION",
                            help="the nginx the configuration runs on: 1.26.2, or a package "
                                 "version (1.22.1-9+deb12u9, debian:12/1.22.1-9+deb12u9). "
                                 "Default: `nginx -V` lines before an `nginx -T` dump on "
                                 "stdin, this machine's nginx for its own /etc/nginx, else "
                                 "unknown (version-dependent findings become warnings)")
    elif command == "inspect":
        add_input_options(parser)
        parser.add_argument("--format", choices=("console", "json"), default="console")
        parser.add_argument("--server", action="append", metavar="PATTERN",
                            help="only servers with a server_name matching PATTERN (shell "
                                 "glob, repeatable)")
        parser.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    elif command == "trace":
        parser.description = ("Follow one request through a server's phases, as nginx "
                              "would, and print every directive on its path.")
        add_input_options(parser)
        parser.add_argument("--server", required=True, metavar="NAME",
                            help="server_name (shell glob) or FILE:LINE of the server block")
        parser.add_argument("--uri", action="append",
                            help="request path (repeatable; default: /)")
        parser.add_argument("--client", choices=("none", "failed", "other-ca", "valid",
                                                  "plain"), action="append",
                            help="kind of client (repeatable; default: every kind)")
        parser.add_argument("--method", action="append",
                            help="request method (repeatable; default: GET)")
        parser.add_argument("--via", choices=("direct", "cloudflare"), action="append",
                            help="where the client connects from (repeatable; default: the "
                            "valid client through Cloudflare to a Cloudflare-fronted server, "
                            "the others directly)")
        parser.add_argument("--format", choices=("console", "json"), default="console")
    elif command == "compare":
        parser.description = ("Compare OLD and NEW per host, port, path and kind of client: "
                              "exit 1 when a cell goes from refused to open or to 'cannot "
                              "prove', 0 when nothing weakens.")
        add_input_options(parser)
        parser.add_argument("--format", choices=("console", "json"), default="console")
    elif command == "explain":
        parser.add_argument("rule", metavar="RULE", help="rule ID or name, e.g. MTLS002")
    elif command == "probe":
        parser.description = ("Connect to an origin directly (only where you point it) and "
                              "show which clients without a valid certificate get content.")
        parser.add_argument("address", metavar="HOST:PORT", nargs="?",
                            help="the origin's TLS address (not with --from-config)")
        parser.add_argument("--name", help="the protected server_name (required without "
                                           "--from-config)")
        add_from_config_options(parser)
        parser.add_argument("--client-cert", metavar="PEM",
                            help="a certificate that must NOT get in, e.g. one issued by the "
                                 "CA of another server on the same address")
        parser.add_argument("--client-key", metavar="PEM", help="its private key")
        parser.add_argument("--plain-port", type=int, metavar="PORT",
                            help="port for the plain-HTTP case (default: the TLS port)")
        parser.add_argument("--other-name", metavar="NAME",
                            help="another server_name on the same address, sent as SNI; with "
                                 "--client-cert (a certificate that server accepts) also "
                                 "resumes its TLS 1.3 session with --name (CVE-2025-23419)")
        parser.add_argument("--content-marker", metavar="TEXT",
                            help="text only the protected content holds: a response holding "
                                 "it counts as CONTENT SERVED whatever its status")
        parser.add_argument("--path", default="/", help="request path (default: /)")
        parser.add_argument("--timeout", type=seconds, default=5.0, metavar="SECONDS",
                            help="the longest wait for a connection, a handshake step or a "
                                 "read (default: 5); a connection ends after twice this")
        parser.add_argument("--deadline", type=seconds, default=60.0, metavar="SECONDS",
                            help="the whole run ends after this (default: 60); cases not "
                                 "tried by then are listed as unreachable")
        parser.add_argument("--format", choices=("console", "json", "sarif"),
                            default="console", help="sarif: with --from-config only")
    parser.description = textwrap.fill(parser.description or "", 79)  # raw text: wrap it here
    return parser


def add_from_config_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "from a configuration", textwrap.fill(
            "Test the running origin with the requests CONFIG's analysis predicts, and report "
            "where they disagree (MTLS110). Exit codes: 1 a disagreement, or content served "
            "without a valid certificate; 2 nothing reached.", 79))
    group.add_argument("--from-config", metavar="CONFIG", help="nginx.conf (or a folder) "
                       "whose servers, ports and names give the requests")
    group.add_argument("--target", metavar="ADDRESS", help="where to send them: HOST, or "
                       "HOST:PORT for a configuration with a single socket (required)")
    group.add_argument("--valid-cert", metavar="PEM", help="a certificate that must get in")
    group.add_argument("--valid-key", metavar="PEM", help="its private key")
    group.add_argument("--budget", type=int, default=300, metavar="N",
                       help="at most N requests (default: 300)")
    group.add_argument("--rate", type=float, default=20.0, metavar="PER_SECOND",
                       help="at most this many connections a second (default: 20)")
    group.add_argument("--source-address", metavar="ADDRESS",
                       help="the local address to connect from")
    group.add_argument("--path-map", action="append", type=path_map, metavar="/SRC=DIR",
                       help="read CONFIG's absolute paths under /SRC from DIR")
    group.add_argument("--prefix", metavar="DIR", help="where CONFIG's relative paths resolve")
    group.add_argument("--nginx-version", type=nginx_version, metavar="VERSION",
                       help="the nginx the origin runs (1.26.2, or a package version such as "
                            "1.22.1-9+deb12u9): predicts the resumed-session rows "
                            "(CVE-2025-23419); default: unknown, those rows not predicted")


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 86400:  # also false for nan
        raise argparse.ArgumentTypeError(f"expected seconds between 0 and 86400, got {text!r}")
    return value


def options_from(args: argparse.Namespace, rules):
    """Command-line flags over the configuration file over the defaults."""
    from .cloudflare import CloudflareOptions
    from .config import FileConfig, find_config, load_config
    from .lint import LintOptions
    from .loader import LoadOptions
    from .registry import rule_resolver
    from .rules import RuleContext
    from .versions import UNKNOWN

    path = args.config or find_config(os.getcwd())
    if args.config and not os.path.isfile(args.config):
        raise UsageError(f"--config {args.config}: no such file")
    resolve = rule_resolver(rules)
    file = load_config(path, resolve) if path else FileConfig()

    def pick(flag: Any, configured: Any, default: Any) -> Any:
        return flag if flag is not None else configured if configured is not None else default

    options = LintOptions(
        load=LoadOptions(prefix=pick(args.prefix, file.prefix, None),
                         path_map=pick(args.path_map, file.path_map, []),
                         roots=file.roots,
                         infer_paths=pick(args.infer_paths, file.infer_paths, True),
                         extend_include=[*(file.extend_include or []),
                                         *(args.extend_include or [])],
                         read_outside=args.read_outside_tree,
                         ingress_configmap=pick(args.ingress_configmap,
                                                file.ingress_configmap, None),
                         ingress_classes={**(file.ingress_classes or {}),
                                          **dict(args.ingress_class or [])}),
        cloudflare=CloudflareOptions(
            host_patterns=pick(args.cloudflare_host, file.cloudflare_hosts, []),
            assume=pick(args.assume_cloudflare, file.assume_cloudflare, False),
            exclude_patterns=pick(args.cloudflare_exclude, file.cloudflare_exclude, [])),
        context=RuleContext(
            expiry_warning_days=pick(getattr(args, "expiry_warning_days", None),
                                     file.expiry_warning_days, 30),
            crl_warning_hours=pick(getattr(args, "crl_warning_hours", None),
                                   file.crl_warning_hours, 24),
            expected_cas=pick(args.expect_ca, file.expected_cas, []),
            target=pick(getattr(args, "nginx_version", None), file.nginx_version, UNKNOWN)),
        rules=rules,
        levels=rule_levels(file, resolve, rules, getattr(args, "select", None),
                           getattr(args, "ignore", None)),
        until={rule: (date, file.path or "") for rule, date in file.until.items()},
    )
    return options, pick(getattr(args, "fail_on", None), file.fail_on, "warning")


def rule_levels(file, resolve, rules, select: list[str] | None,
                ignore: list[str] | None) -> dict[str, str]:
    """The configured levels, with rules left out by select/ignore (flags over the file) off."""
    def ids(names: list[str], flag: str) -> set[str]:
        found = {name: resolve(name) for name in names}
        unknown = [name for name, rule_id in found.items() if rule_id is None]
        if unknown:
            raise UsageError(f"{flag}: unknown rule {unknown[0]!r}; `nginx-mtls-lint rules` "
                             "lists them")
        return set(found.values())

    levels = dict(file.rules)
    select = select if select is not None else file.select
    if select is not None:
        chosen = ids(select, "--select")
        levels.update({r.id: "off" for r in rules if r.id not in chosen})
    levels.update({rule_id: "off" for rule_id in ids(
        ignore if ignore is not None else file.ignore or [], "--ignore")})
    return levels


def open_output(args: argparse.Namespace) -> TextIO:
    if not args.output:
        return sys.stdout
    try:
        return open(args.output, "w", encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write {args.output}: {e.strerror}") from None


def read_stdin() -> bytes:
    from .loader import MAX_CONFIG_BYTES

    data = sys.stdin.buffer.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise UsageError(f"standard input is larger than {MAX_CONFIG_BYTES // 2**20} MiB")
    return data


def emit(args: argparse.Namespace, render: Callable[[TextIO], object]) -> None:
    """Run a renderer on stdout or on the --output file."""
    out = open_output(args)
    try:
        render(out)
    finally:
        if out is not sys.stdout:
            out.close()


def render_findings(args: argparse.Namespace, result, out: TextIO) -> None:
    from .report import ReportOptions, reporter

    reporter(args.format)(result, out, ReportOptions(
        args.color, args.include_suppressed, args.sarif_category))


def write_diff(result, unsafe: bool, out: TextIO) -> None:
    from .report.edits import fixable, unified_diff

    diff = unified_diff(result.findings, unsafe, set(result.workspace.dump_texts))
    for reason in diff.left_out:
        print(f"nginx-mtls-lint: fix left out of the diff: {reason}", file=sys.stderr)
    _, hidden = fixable(result.findings)
    if not diff.text and not unsafe and hidden:  # never a silent empty diff
        print(f"nginx-mtls-lint: no safe fix to apply; {hidden} unsafe "
              f"fix{'' if hidden == 1 else 'es'} can be enabled with --unsafe-fixes",
              file=sys.stderr)
    # the files' own bytes, also those that are not UTF-8 (decoded with surrogateescape)
    data = diff.text.encode("utf-8", "surrogateescape")
    buffer = getattr(out, "buffer", None)
    if buffer is None:
        out.write(data.decode("utf-8", "replace"))
        return
    out.flush()
    buffer.write(data)
    buffer.flush()


def guard_output(args: argparse.Namespace, read: Iterable[str]) -> None:
    """`-o FILE` naming a file the run read (a configuration file, an input) would replace
    the configuration with the report: refused before anything is written."""
    if not args.output or not os.path.exists(args.output):
        return
    for path in [*getattr(args, "paths", []), *read]:
        try:
            same = os.path.samefile(args.output, path)
        except OSError:
            continue
        if same:
            raise UsageError(f"--output {args.output} is {path}, a file this run reads: "
                             "refusing to overwrite it; write the report elsewhere")


def run_lint(args: argparse.Namespace) -> int:
    from .lint import lint
    from .registry import load_rules

    if args.unsafe_fixes and not args.diff:
        raise UsageError("--unsafe-fixes goes with --diff")
    import_errors: list[str] = []
    options, fail_on = options_from(args, load_rules(import_errors))
    options.plugin_errors = import_errors
    from .discovery import default_inputs
    from .findings import SEVERITY_RANK

    result = lint(args.paths or default_inputs(), options, read_stdin)
    if args.baseline:
        from . import baseline
        baseline.apply(args.baseline, result.findings)
    guard_output(args, result.workspace.files)
    if args.diff:
        emit(args, lambda out: write_diff(result, args.unsafe_fixes, out))
    else:
        emit(args, lambda out: render_findings(args, result, out))
    if args.statistics:
        from .report.console import render_statistics
        # after a human report on the same stream; beside a machine-readable one, on stderr
        human = args.format in ("console", "concise") and not args.output and not args.diff
        render_statistics(result, sys.stdout if human else sys.stderr)
    if args.write_baseline:
        from . import baseline
        count = baseline.write(args.write_baseline, result.findings)
        print(f"nginx-mtls-lint: wrote {count} findings to the baseline {args.write_baseline}",
              file=sys.stderr)
        return EXIT_CLEAN
    threshold = SEVERITY_RANK[fail_on]
    failing = any(SEVERITY_RANK[f.severity] >= threshold
                  for f in result.findings if not f.suppressed)
    return EXIT_FINDINGS if failing and not args.exit_zero else EXIT_CLEAN


def run_inspect(args: argparse.Namespace) -> int:
    from .lint import analyse, run_context
    from .registry import load_rules
    from .report import inspect

    options, _ = options_from(args, load_rules())
    from .discovery import default_inputs

    workspace, model = analyse(args.paths or default_inputs(), options, read_stdin)
    analysis = run_context(workspace, options).analysis
    guard_output(args, workspace.files)
    servers = None
    if args.server:
        from .cloudflare import matching_name
        servers = [s for s in model.tls_servers
                   if any(matching_name(s, p) for p in args.server)]
    if args.format == "json":
        emit(args, lambda out: out.write(inspect.render_json(model, servers, analysis)))
    else:
        emit(args, lambda out: inspect.render_table(model, out, args.color, servers))
    return EXIT_CLEAN


def traced_servers(model, wanted: str) -> list:
    """The http {} servers `--server` names: a server_name glob or FILE:LINE."""
    import fnmatch

    lowered = wanted.lower()
    servers = [s for s in model.servers
               if f"{s.file}:{s.line}" == wanted or lowered == f"{s.file}:{s.line}".lower()
               or any(n and fnmatch.fnmatchcase(n.lower(), lowered) for n in s.names)]
    if not servers:
        raise UsageError(f"no server matches {wanted!r} (give a server_name or FILE:LINE)")
    return servers


def run_trace(args: argparse.Namespace) -> int:
    from .lint import analyse, run_context
    from .registry import load_rules
    from .report import trace

    uris = args.uri or ["/"]
    for uri in uris:
        if not uri.startswith("/"):
            raise UsageError(f"--uri must start with /, got {uri!r}")
    options, _ = options_from(args, load_rules())
    from .discovery import default_inputs

    workspace, model = analyse(args.paths or default_inputs(), options, read_stdin)
    analysis = run_context(workspace, options).analysis
    guard_output(args, workspace.files)
    vias = [None] if args.via is None else [v == "cloudflare" for v in args.via]
    methods = [m.upper() for m in args.method or ["GET"]]
    traced = [(server, analysis.of(server).requests(uris, args.client, methods, vias))
              for server in traced_servers(model, args.server)]
    if args.format == "json":
        emit(args, lambda out: trace.render_json(traced, out))
    else:
        emit(args, lambda out: trace.render_text(traced, out))
    leaked = any(p.result.verdict == "yes" and p.client.kind != "valid"
                 for _, paths in traced for p in paths)
    return EXIT_FINDINGS if leaked else EXIT_CLEAN


def run_compare(args: argparse.Namespace) -> int:
    import json

    from . import compare
    from .lint import analyse, run_context
    from .registry import load_rules

    if len(args.paths) != 2:
        raise UsageError("compare takes two inputs: OLD NEW (paths, or - for one `nginx -T` "
                         "dump on stdin)")
    sides = []
    for path in args.paths:
        options, _ = options_from(args, load_rules())
        workspace, model = analyse([path], options, read_stdin)
        sides.append((model, run_context(workspace, options).analysis))
    (old, old_analysis), (new, new_analysis) = sides
    changes, compared = compare.compare(old, new, (old_analysis, new_analysis))
    if args.format == "json":
        emit(args, lambda out: out.write(json.dumps(compare.to_json(changes, compared),
                                                    indent=2) + "\n"))
    else:
        emit(args, lambda out: compare.render_text(changes, compared, out))
    return EXIT_FINDINGS if any(c.weakens for c in changes) else EXIT_CLEAN


def run_rules(args: argparse.Namespace) -> int:
    from .findings import DIAGNOSTICS
    from .registry import load_rules

    from .probe.rule import live_rules

    live = live_rules()
    rows = [(rule.id, rule.name, rule.severity, "probe" if rule in live else rule.origin,
             " ".join(rule.doc().split("\n\n", 1)[0].split()))  # the whole first paragraph
            for rule in load_rules() + live]
    rows += [(d.id, d.name, d.severity, "built-in", d.summary) for d in DIAGNOSTICS.values()]
    width = shutil.get_terminal_size((0, 0)).columns if sys.stdout.isatty() else 0
    for rule_id, name, severity, origin, summary in rows:
        head = f"{rule_id:<8} {name:<30} {severity:<8} {origin:<16}"
        if not width or len(head) + 1 + len(summary) <= width:
            print(f"{head} {summary}")  # one line per rule when it fits, or into a pipe
            continue
        print(head.rstrip())  # a terminal: the summary whole, wrapped under the ID
        print(textwrap.fill(summary, width=max(width, 40), initial_indent=" " * 9,
                            subsequent_indent=" " * 9))
    return EXIT_CLEAN


def run_explain(args: argparse.Namespace) -> int:
    from .docs import find_rule, render_page
    from .registry import load_rules

    rule = find_rule(args.rule, load_rules())
    if rule is None:
        raise UsageError(f"unknown rule {args.rule!r}; `nginx-mtls-lint rules` lists them")
    sys.stdout.write(render_page(rule))
    return EXIT_CLEAN


def run_probe(args: argparse.Namespace) -> int:
    import json

    from . import probe
    from .probe.wire import ascii_name, name_problem

    if args.from_config or args.target:
        from .probe.from_config import command
        return command(args)
    if not args.address or not args.name:
        raise UsageError("probe needs HOST:PORT and --name (or --from-config and --target)")
    if args.format == "sarif":
        raise UsageError("--format sarif goes with --from-config")
    if bool(args.client_cert) != bool(args.client_key):
        raise UsageError("--client-cert and --client-key go together")
    for option, name in (("--name", args.name), ("--other-name", args.other_name)):
        problem = name is not None and name_problem(name)
        if problem:
            raise UsageError(f"{option} {name[:80]!r} cannot be sent as a TLS server name "
                             f"(SNI) or Host: {problem}")
    args.name = ascii_name(args.name)
    args.other_name = args.other_name and ascii_name(args.other_name)
    if not re.fullmatch(r"/[\x21-\x7e]*", args.path):
        raise UsageError(f"--path {args.path[:80]!r}: expected a path starting with / with no "
                         "space or control character (percent-encode them)")
    if args.plain_port is not None and not 0 < args.plain_port < 65536:
        raise UsageError(f"--plain-port {args.plain_port} is out of range")
    try:
        host, port = probe.parse_address(args.address)
    except ValueError as e:
        raise UsageError(str(e)) from None
    target = probe.Target(host, port, args.name, args.path, args.client_cert, args.client_key,
                          args.plain_port, args.other_name, args.content_marker, args.timeout,
                          deadline=args.deadline)
    try:
        outcomes = probe.probe(target)
    except OSError as e:  # ssl.SSLError included: an unreadable or mismatched certificate
        raise UsageError(f"cannot use the client certificate: {e}") from None
    names = probe.client_ca_names(target)
    code = probe.exit_code(outcomes)
    if args.format == "json":
        print(json.dumps({"target": f"{host}:{port}", "name": args.name,
                          "results": probe.as_dicts(outcomes),
                          "bypassed": probe.bypassed(outcomes),
                          "unreachable": [o.case for o in probe.unreachable(outcomes)],
                          "client_ca_names": names,
                          "asks_cloudflare_origin_pull_ca": probe.asks_cloudflare(names)},
                         indent=2))
    else:
        from .report.console import render_probe
        render_probe(outcomes, f"{host}:{port}", args.name, sys.stdout, names)
    if code == EXIT_USAGE:
        complain(f"nginx-mtls-lint: probe: no case reached the origin: {outcomes[0].detail}")
    return code


def complain(message: str) -> None:
    """A message on stderr, folded with a hanging indent when stderr is a terminal."""
    from .report.wrap import hang_plain, terminal_width

    print(hang_plain(message, 4, terminal_width(sys.stderr)), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    # The statement tree holds millions of small objects and no reference cycles: the cyclic
    # collector would only rescan them again and again (a third of the run on large trees).
    gc.disable()
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in COMMANDS else "lint"
    try:
        args = build_parser(command).parse_args(argv)
        runner = {"lint": run_lint, "inspect": run_inspect, "rules": run_rules,
                  "explain": run_explain, "probe": run_probe, "trace": run_trace,
                  "compare": run_compare}[command]
        return runner(args)
    except UsageError as e:
        from .report.safe_text import printable
        complain(f"nginx-mtls-lint: error: {printable(str(e))}")
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: nothing more to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_CLEAN
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a bug of ours: one line, not a traceback, unless asked for
        if os.environ.get("NGINX_MTLS_LINT_DEBUG"):
            raise
        print(f"nginx-mtls-lint: internal error: {type(e).__name__}: {e} (set "
              "NGINX_MTLS_LINT_DEBUG=1 for the traceback, and please report it)",
              file=sys.stderr)
        return EXIT_USAGE
