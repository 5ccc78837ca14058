"""One lint run: loader -> model -> Cloudflare detection -> rules -> suppressions -> findings."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from . import suppressions
from .analysis import Analysis
from .cloudflare import CA_FILE_NAME, CloudflareOptions, detect
from .directives import misplaced, pcre_refusal, regexes
from .findings import DIAGNOSTICS, SEVERITIES, Finding, ServerRef, advice, diagnostic
from .identity import message_shape
from .inputs import load_inputs
from .loader import LoadOptions, Tree, Workspace
from .model import Config, Model, Socket, TlsServer, build_model
from .registry import rule_resolver, stdout_to_stderr
from .rules import Rule, RuleContext, builtin_rules
from .versions import LIVE_ROOT, Target, from_nginx_v, from_this_machine


# The diagnostics that leave part of the configuration unread.
GAPS = frozenset(d.id for d in DIAGNOSTICS.values() if d.leaves_gap)

@dataclass(slots=True)
class LintOptions:
    load: LoadOptions = field(default_factory=LoadOptions)
    cloudflare: CloudflareOptions = field(default_factory=CloudflareOptions)
    context: RuleContext = field(default_factory=RuleContext)
    rules: list[type[Rule]] | None = None  # None: every built-in rule
    levels: dict[str, str] = field(default_factory=dict)  # rule ID -> off|error|warning|note
    plugin_errors: list[str] = field(default_factory=list)  # plugins that failed to import
    # rule ID -> (deadline, where it is written): `MTLS002: off until=2026-12-31` in the
    # configuration file, a staged rollout (suppressed until then, errors after)
    until: dict[str, tuple[dt.date, str]] = field(default_factory=dict)


@dataclass(slots=True)
class Result:
    workspace: Workspace
    model: Model
    findings: list[Finding]
    rules: list[type[Rule]]  # the rules that ran
    target: Target | None = None  # the nginx judged for, and where its version came from
    analysis: Analysis | None = None  # what the rules read (trace and inspect read the same)

    @property
    def notes(self) -> list[str]:
        """Summary lines: what the analysis could not see (modules, skipped checks, gaps)."""
        return list(self.workspace.notes)


def analyse(inputs: Iterable[str], options: LintOptions,
            read_stdin: Callable[[], bytes] | None = None) -> tuple[Workspace, Model]:
    workspace = load_inputs(inputs, options.load, read_stdin)
    model = build_model(workspace)
    detect(model, options.context.cas, options.cloudflare)
    return workspace, model


def judged_target(given: Target, workspace: Workspace, options: LoadOptions) -> Target:
    """The target given (--nginx-version, nginx-version:), else `nginx -V` lines before a
    dump, else, for the live configuration of this machine, its nginx and package."""
    if given.known:
        return given
    found = from_nginx_v(workspace.dump_preamble, "nginx -V in the input")
    if found is None and workspace.kubernetes is not None:  # (imports YAML: only for them)
        from . import kubernetes
        found = kubernetes.target_of(workspace)
    if found is not None:
        return found
    live = (not options.path_map and options.prefix is None and not workspace.dump_texts
            and bool(workspace.trees) and all(
                (os.path.realpath(tree.prefix) + "/").startswith(LIVE_ROOT)
                for tree in workspace.trees))
    return (from_this_machine() if live else None) or given


def in_focus(finding: Finding, tree: Tree) -> bool:
    """Findings of a tree loaded for some fragments' sake: only those about the fragments."""
    return tree.focus is None or finding.file in tree.focus or (
        finding.server is not None and finding.server.file in tree.focus)


Subject = TlsServer | Socket[Any] | Config  # what one call of a check method looks at


def calls(rule: Rule, config: Config,
          ctx: RuleContext) -> Iterator[tuple[Subject, Callable[..., Iterable[Finding]], tuple[Any, ...]]]:
    """Every call the engine makes of one rule over one configuration: each check method
    the rule defines, once per subject of its kind, as (subject, method, arguments)."""
    def defined(*names: str) -> list[Callable[..., Iterable[Finding]]]:
        return [getattr(rule, name) for name in names
                if getattr(type(rule), name) is not getattr(Rule, name)]

    for method in defined("check"):
        yield config, method, (config, ctx)
    for servers, names in ((config.servers, ("check_tls_server", "check_server")),
                           (config.stream_servers, ("check_tls_server", "check_stream_server"))):
        methods = defined(*names)
        for server in servers if methods else ():
            for method in methods:
                yield server, method, (server, ctx)
    for sockets, name in ((config.sockets, "check_socket"),
                          (config.stream_sockets, "check_stream_socket")):
        for method in defined(name):
            for socket in sockets.values():
                yield socket, method, (socket, config, ctx)


def run_rule(rule_class: type[Rule], config: Config, ctx: RuleContext) -> list[Finding]:
    """One rule over one configuration, subject by subject. A subject whose check raises
    keeps what it found so far; the rule goes on with the next, and one MTLS909 names the
    rule, the exception and the first subject it failed on."""
    try:
        planned = list(calls(rule_class(), config, ctx))
    except (Exception, SystemExit) as e:  # a plugin's own constructor
        return [_crashed(rule_class, config, e, 0)]
    found: list[Finding] = []
    failed: list[tuple[Subject, BaseException]] = []
    for subject, method, arguments in planned:
        try:
            # `or ()`: a check written as a plain function that returns nothing
            found.extend(f for f in sound(method(*arguments) or ())
                         if in_focus(f, config.tree))
        except (Exception, SystemExit) as e:  # a plugin's sys.exit() must not end the run
            if os.environ.get("NGINX_MTLS_LINT_DEBUG"):
                raise
            failed.append((subject, e))
    if failed:
        found.append(_crashed(rule_class, *failed[0], len(failed) - 1))
    return found


def sound(items: Iterable[object]) -> Iterator[Finding]:
    """A check's findings, each a Finding of a known severity (a plugin may yield anything):
    anything else is the rule's failure (MTLS909), not the report's."""
    for item in items:
        if not isinstance(item, Finding):
            raise TypeError(f"yielded {type(item).__name__} {str(item)[:60]!r}, not a Finding")
        if item.severity not in SEVERITIES:
            raise ValueError(f"a finding of severity {str(item.severity)[:20]!r}, not one of "
                             f"{', '.join(SEVERITIES)}")
        yield item


def refused(tree: Tree) -> Iterator[Finding]:
    """What `nginx -t` refuses in statements that parse: a directive where its module does
    not allow it, a regex PCRE cannot compile (MTLS900)."""
    for stmt, block in misplaced(tree.stmts):
        yield diagnostic("MTLS900", stmt.file, stmt.line,
                         f'"{stmt.name}" directive is not allowed here (in {block}): '
                         "`nginx -t` fails there")
    for stmt, pattern in regexes(tree.stmts):
        error = pcre_refusal(pattern)
        if error is not None:
            shown = pattern if len(pattern) <= 80 else pattern[:77] + "..."
            yield diagnostic("MTLS900", stmt.file, stmt.line,
                             f'pcre2_compile() failed: {error} in "{shown}": `nginx -t` fails '
                             "there, and nginx keeps running its old configuration")


def _crashed(rule_class: type[Rule], subject: Subject, error: BaseException,
             more: int) -> Finding:
    if isinstance(subject, TlsServer):
        what, stmt = subject.title, subject.stmt
    elif isinstance(subject, Socket):
        what, stmt = f"listen socket {subject.name}", subject.default_listen[1].stmt
    else:
        what, stmt = f"the configuration of {subject.tree.root}", None
    others = f" (and {more} other subject{'s' if more > 1 else ''})" if more else ""
    return diagnostic(
        "MTLS909", stmt.file if stmt else None, stmt.line if stmt else None,
        f"rule {rule_class.id} {rule_class.name} ({rule_class.origin}) raised "
        f"{type(error).__name__}: {error} while checking {what}{others}; its "
        "findings there may be incomplete.")


def run_context(workspace: Workspace, options: LintOptions) -> RuleContext:
    """The run's context, and through it its analysis (what `lint`, `trace` and `inspect`
    read): the options, with the nginx judged for."""
    options.context.source = workspace.source_line  # fix builders read lines as reporters do
    target = judged_target(options.context.target, workspace, options.load)
    context = options.context
    if target is not context.target:
        context = dataclasses.replace(context, target=target)
    return context


def lint(inputs: Iterable[str], options: LintOptions,
         read_stdin: Callable[[], bytes] | None = None) -> Result:
    workspace, model = analyse(inputs, options, read_stdin)
    context = run_context(workspace, options)
    rules = options.rules if options.rules is not None else builtin_rules()
    running = [r for r in rules if options.levels.get(r.id) != "off"]
    findings = list(workspace.findings)
    findings += [diagnostic("MTLS909", None, None, e) for e in options.plugin_errors]
    findings += [finding for tree in workspace.trees for finding in refused(tree)]
    # a rule's print() and os.write(1, ...) go to stderr: stdout holds the report
    with stdout_to_stderr():
        for rule_class in running:
            for config in model.configs:
                findings.extend(run_rule(rule_class, config, context))
    findings += unavailable_notes(context, workspace)
    findings = kubernetes_review(findings, workspace)
    today = context.now.date()
    findings += suppressions.apply(workspace.file_stmts, findings, rule_resolver(rules),
                                   today=today)
    findings += suppressions.config_rollouts(options.until, findings, today)
    focus = _focus_files(workspace)
    kept = []
    for finding in findings:
        level = options.levels.get(finding.rule)
        spec = DIAGNOSTICS.get(finding.rule)
        if level == "off" or (focus is not None and finding.file not in focus
                              and spec is not None and spec.about_input):
            continue
        if level:
            finding.severity = level
        _with_fix(finding)
        _columns(finding)
        kept.append(finding)
    gaps = sum(f.rule in GAPS and not f.suppressed for f in kept)
    if gaps:
        workspace.notes.setdefault(
            f"analysis incomplete: {gaps} included file{'' if gaps == 1 else 's'} could not be "
            "read (MTLS901/MTLS904); what they hold was not checked")
    return Result(workspace, model, group_by_cause(kept, plain_servers(model)), running,
                  context.target, context.analysis)


def kubernetes_review(findings: list[Finding], workspace: Workspace) -> list[Finding]:
    """Findings of rendered manifests moved to the manifests' lines (YAML is imported only
    when there are manifests)."""
    if workspace.kubernetes is None:
        return findings
    from .kubernetes import review
    return review.review(findings, workspace.kubernetes)


def unavailable_notes(ctx: RuleContext, workspace: Workspace) -> list[Finding]:
    """One note per CA/CRL file a checkout does not have (MTLS911), and a summary line."""
    notes = []
    for path, (setting, by_id) in ctx.unavailable.items():
        stmt, value = setting.stmt, setting.value
        # a server that does not do TLS checks no client with it (a port-80 redirect)
        servers = [s for s in by_id.values() if s.serves_tls] or list(by_id.values())
        count = f"{len(servers)} server{'' if len(servers) == 1 else 's'}"
        message = (f"`{stmt.name} {value}` ({count}): the file is on the deployed host, not in "
                   "this checkout, so the checks that read it (missing, expired or wrong CA) "
                   f"were skipped. Let them run with --path-map {os.path.dirname(value)}=DIR.")
        if CA_FILE_NAME.search(os.path.basename(value)):
            message += (" It is named like Cloudflare's origin-pull CA, a public file: commit "
                        "it to the repository and map its folder.")
        note = diagnostic("MTLS911", stmt.file, stmt.line, message)
        # Cloudflare's words only for a file named for Cloudflare (not a Let's Encrypt chain)
        note.fix = (f"Commit the file (CA certificates and CRLs are public) and map its folder "
                    f"with `--path-map {os.path.dirname(value)}=DIR`"
                    + ("; Cloudflare's origin-pull CA can always be committed."
                       if CA_FILE_NAME.search(os.path.basename(value)) else "."))
        note.directive = " ".join([stmt.name, *stmt.args])
        note.servers = [ServerRef([n for n in s.names if n], s.file, s.line)
                        for s in servers]
        note.server = note.servers[0]
        notes.append(note)
    if notes:
        uses = sum(len(note.servers) for note in notes)
        workspace.notes.setdefault(
            f"{uses} server CA check{'' if uses == 1 else 's'} skipped: {len(notes)} CA/CRL "
            f"file{'' if len(notes) == 1 else 's'} not available in this checkout (MTLS911)")
    return notes


def plain_servers(model: Model) -> set[tuple[str, int]]:
    """Where the servers that do not do TLS are (file, line)."""
    return {(s.file, s.line) for c in model.configs for s in c.tls_servers if not s.serves_tls}


def group_by_cause(findings: list[Finding],
                   plain: set[tuple[str, int]] | None = None) -> list[Finding]:
    """One finding per cause: the same rule, the same cause (the responsible directive, or
    the file a rule's directive names) and the same message once the affected server's names
    and file:line references are taken out. The first finding stands for the group and lists
    every server in `servers`; rules report per server and never deduplicate themselves.
    A server that does not do TLS (`plain`: a port-80 redirect inheriting an http-level CA)
    is never among the servers a file affects while one that does TLS is."""
    groups: dict[tuple[object, ...], list[Finding]] = {}
    for finding in sorted(findings, key=Finding.sort_key):
        key = (finding.rule, finding.severity, finding.suppressed,
               finding.cause if finding.cause is not None else (finding.file, finding.line),
               message_shape(finding))
        groups.setdefault(key, []).append(finding)
    grouped = []
    for members in groups.values():
        first = members[0]
        if first.cause is not None and plain:
            tls = [f for f in members if f.server is None or
                   (f.server.file, f.server.line) not in plain]
            members = tls or members
            first = members[0]
        seen = {(s.file, s.line) for s in first.servers}
        for finding in members:
            server = finding.server
            if server is not None and (server.file, server.line) not in seen:
                seen.add((server.file, server.line))
                first.servers.append(server)
        grouped.append(first)
    return sorted(grouped, key=Finding.sort_key)


def _focus_files(workspace: Workspace) -> set[str] | None:
    """When every tree was loaded for fragments' sake, the files to report diagnostics on."""
    if not workspace.trees or any(t.focus is None for t in workspace.trees):
        return None
    return set[str]().union(*(t.focus for t in workspace.trees if t.focus is not None))


def _with_fix(finding: Finding) -> None:
    """Every finding has a fix: its edits, else its fix text as display-only advice."""
    if not finding.fixes and finding.fix:
        finding.fixes = [advice(finding.fix)]


def _columns(finding: Finding) -> None:
    """The responsible statement's columns (the parser's), the end where it is on the same
    line."""
    stmt = finding.statement
    if stmt is None or finding.column is not None or not stmt.column:
        return
    finding.column = stmt.column
    finding.end_column = stmt.stop_column if stmt.stop_line == stmt.line else None
