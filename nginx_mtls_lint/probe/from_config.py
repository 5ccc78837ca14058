"""`probe --from-config CONFIG --target ADDRESS`: the configuration's predictions, tested on
the running origin, request by request; the disagreements are MTLS110 findings.

Exit codes: 1 a disagreement, or content served to a client without a valid certificate;
2 nothing reached (or a usage error); 0 otherwise.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
from dataclasses import dataclass
from typing import TextIO

from ..findings import Finding, ServerRef
from .live import Options, Verdict, run
from .plan import Certificates, Planner
from .rule import LiveDisagreement
from ..versions import UNKNOWN

ORDER = {"disagree": 0, "unknown": 1, "agree": 2, "unreached": 3}


@dataclass(slots=True)
class Report:
    target: str
    verdicts: list[Verdict]
    notes: list[str]
    findings: list[Finding]
    result: object  # the lint Result the findings hang on (SARIF)

    @property
    def reached(self) -> bool:
        return any(v.seen.reached for v in self.verdicts)

    def exit_code(self) -> int:
        if not self.reached:
            return 2
        if any(v.agreement == "disagree" or v.bypass for v in self.verdicts):
            return 1
        return 0


def parse_target(text: str) -> tuple[str, int | None]:
    """HOST, HOST:PORT, [IPv6] or [IPv6]:PORT."""
    match = re.fullmatch(r"\[([0-9a-fA-F:.]+)\](?::(\d+))?|([^:\[\]\s]+)(?::(\d+))?", text)
    if not match:
        try:
            return str(ipaddress.IPv6Address(text)), None
        except ValueError:
            raise ValueError(f"--target: expected HOST, HOST:PORT or [IPv6]:PORT, got {text!r}")
    host = match.group(1) or match.group(3)
    port = match.group(2) or match.group(4)
    if port is not None and not 0 < int(port) < 65536:
        raise ValueError(f"--target: port out of range in {text!r}")
    return host, int(port) if port else None


def _der(path: str | None) -> bytes | None:
    if path is None:
        return None
    import ssl

    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def probe_config(inputs: list[str], host: str, port: int | None, options: Options,
                 load=None, uri_budget: int = 4) -> Report:
    from ..analysis import Analysis
    from ..cloudflare import CloudflareOptions
    from ..lint import LintOptions, Result, analyse

    lint_options = LintOptions(load=load) if load is not None else LintOptions()
    lint_options.cloudflare = CloudflareOptions([], False)
    workspace, model = analyse(inputs, lint_options)
    analysis = Analysis(lint_options.context.cas)
    certificates = Certificates(_der(options.valid[0]) if options.valid else None,
                                _der(options.other[0]) if options.other else None)
    rows, notes = [], []
    for config in model.configs:
        planner = Planner(config, analysis, certificates, host, port, options.nginx)
        rows += planner.rows(uri_budget) + planner.stream_rows()
        notes += planner.notes
    verdicts = run(rows, options)
    findings = [finding(v) for v in verdicts if v.agreement == "disagree"]
    result = Result(workspace, model, findings, [LiveDisagreement])
    target = f"[{host}]" if ":" in host else host
    return Report(target + (f":{port}" if port else ""), verdicts, notes, findings, result)


def finding(verdict: Verdict) -> Finding:
    row, seen, expect = verdict.row, verdict.seen, verdict.row.expect
    predicted = describe_expect(expect.answer, expect.status)
    message = (f"{row.request.describe()} on {row.socket}: the configuration predicts "
               f"{predicted} ({expect.why}); the origin answered {describe_seen(seen)}. "
               f"{verdict.evidence[:1].upper()}{verdict.evidence[1:]}.")
    server = row.server
    return Finding(LiveDisagreement.id, LiveDisagreement.name, verdict.severity or "warning",
                   message, expect.file or server.file, expect.line or server.line,
                   ServerRef([n for n in server.names if n], server.file, server.line),
                   fix="make the running origin what the file says (`nginx -t`, reload), or "
                       "check what the device in front forwards")


def describe_expect(answer: str, status: int | None) -> str:
    return {"content": "content", "refused": f"a refusal ({status})",
            "redirect": f"a redirect ({status})", "text": f"a fixed text ({status})",
            "closed": "a closed connection (444)",
            "handshake-refused": "a refused TLS handshake",
            "unknown": "cannot prove"}.get(answer, answer)


def describe_seen(seen) -> str:
    text = {"content": "content", "refused": "a refusal", "redirect": "a redirect",
            "text": "a response that is not the content", "closed": "a closed connection",
            "handshake-refused": "a refused TLS handshake", "unreachable": "nothing",
            "not-sent": "nothing (not sent)"}[seen.answer]
    return f"{text} ({seen.detail})" if seen.detail else text


def ordered(verdicts: list[Verdict]) -> list[Verdict]:
    """Disagreements first (errors before warnings), then open paths, then the rest."""
    return sorted(verdicts, key=lambda v: (ORDER[v.agreement], v.severity != "error",
                                           not v.bypass))


def as_json(report: Report) -> dict:
    from ..report.json_report import finding_dict

    return {
        "target": report.target,
        "reached": report.reached,
        "requests_sent": sum(v.seen.answer != "not-sent" for v in report.verdicts),
        "disagreements": sum(v.agreement == "disagree" for v in report.verdicts),
        "bypassed": any(v.bypass for v in report.verdicts),
        "results": [{
            "server": v.row.server.label, "file": v.row.server.file,
            "line": v.row.server.line, "socket": v.row.socket, "port": v.row.port,
            "request": v.row.request.describe(), "valid_client": v.row.valid,
            "predicted": {"answer": v.row.expect.answer, "status": v.row.expect.status,
                          "why": v.row.expect.why, "file": v.row.expect.file,
                          "line": v.row.expect.line},
            "observed": {"answer": v.seen.answer, "status": v.seen.status,
                         "detail": v.seen.detail, "server_header": v.seen.server},
            "agreement": v.agreement, "severity": v.severity, "evidence": v.evidence,
        } for v in ordered(report.verdicts)],
        "notes": report.notes,
        "findings": [finding_dict(f) for f in report.findings],
    }


def render_console(report: Report, out: TextIO) -> None:
    from rich.table import Table
    from rich.text import Text

    from ..report.console import make_console

    console = make_console(out, soft_wrap=False)
    by_server: dict[int, list[Verdict]] = {}
    for verdict in ordered(report.verdicts):
        by_server.setdefault(id(verdict.row.server), []).append(verdict)
    servers = sorted(by_server.values(), key=lambda vs: (min(ORDER[v.agreement] for v in vs),
                                                         not any(v.bypass for v in vs)))
    for verdicts in servers:
        server = verdicts[0].row.server
        table = Table(title=f"{server.label} ({server.file}:{server.line})")
        for column in ("request", "predicted", "observed", ""):
            table.add_column(column, overflow="fold")
        for v in verdicts:
            mark = {"disagree": Text("DISAGREE", style="bold red" if v.severity == "error"
                                     else "yellow"),
                    "unknown": Text("cannot prove"),
                    "agree": Text("OPEN, as predicted", style="bold red") if v.bypass
                    else Text("ok", style="green"),
                    "unreached": Text("not reached", style="yellow")}[v.agreement]
            table.add_row(f"{v.row.request.describe()} [{v.row.socket}]",
                          describe_expect(v.row.expect.answer, v.row.expect.status),
                          describe_seen(v.seen), mark)
        console.print(table)
    for f in report.findings:
        console.print(Text(f"{f.file}:{f.line}: {f.rule} [{f.severity}] {f.message}"))
    for note in report.notes:
        console.print(Text(f"note: {note}"))
    open_paths = sum(v.bypass for v in report.verdicts)
    if open_paths:
        console.print(Text(f"{open_paths} requests without a valid certificate got content "
                           "under a name the configuration protects", style="bold red"))
    counts = {k: sum(v.agreement == k for v in report.verdicts) for k in ORDER}
    console.print(Text(f"{len(report.verdicts)} requests to {report.target}: "
                       f"{counts['disagree']} disagree, {counts['unknown']} cannot be "
                       f"predicted, {counts['agree']} agree, {counts['unreached']} not "
                       "reached"))


def command(args) -> int:
    """The CLI's `probe --from-config`."""
    from ..loader import LoadOptions, UsageError

    options = options_from(args)
    load = LoadOptions(prefix=args.prefix, path_map=args.path_map or [])
    try:
        report = probe_config([args.from_config], options.host, options.port, options, load)
    except ValueError as e:
        raise UsageError(str(e)) from None
    except OSError as e:  # ssl.SSLError included: an unreadable or mismatched certificate
        raise UsageError(f"cannot use a client certificate: {e}") from None
    if args.format == "json":
        print(json.dumps(as_json(report), indent=2))
    elif args.format == "sarif":
        from ..report import sarif
        sys.stdout.write(sarif.render(report.result))  # type: ignore[arg-type]
    else:
        render_console(report, sys.stdout)
    code = report.exit_code()
    if code == 2:
        reason = next((v.seen.detail for v in report.verdicts), "no request to send")
        print(f"nginx-mtls-lint: probe: nothing reached {report.target}: {reason}",
              file=sys.stderr)
    return code


def options_from(args) -> Options:
    """The command line's options, checked (a usage error says what is wrong)."""
    from ..loader import UsageError

    if not args.from_config or not args.target:
        raise UsageError("--from-config and --target go together")
    if args.address or args.name or args.other_name or args.plain_port or args.path != "/":
        raise UsageError("with --from-config the configuration gives the names, ports and "
                         "paths: drop HOST:PORT, --name, --other-name, --plain-port, --path")
    for cert, key, what in ((args.valid_cert, args.valid_key, "--valid-cert/--valid-key"),
                            (args.client_cert, args.client_key, "--client-cert/--client-key")):
        if bool(cert) != bool(key):
            raise UsageError(f"{what} go together")
    if args.budget < 1 or not 0 < args.rate <= 1000:
        raise UsageError("--budget must be at least 1, --rate between 0 and 1000")
    try:
        host, port = parse_target(args.target)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return Options(host, args.timeout, args.deadline, args.budget, args.rate,
                   (args.valid_cert, args.valid_key) if args.valid_cert else None,
                   (args.client_cert, args.client_key) if args.client_cert else None,
                   args.content_marker, args.source_address, port,
                   args.nginx_version or UNKNOWN)
