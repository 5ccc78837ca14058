"""Human output: findings grouped by file, the offending line, the fix, a summary."""

from __future__ import annotations

from itertools import groupby
from collections.abc import Iterator
from typing import Any, TextIO

from rich.console import Console
from rich.text import Text

from ..docs import without_markers
from ..findings import Finding
from ..lint import Result
from ..model import real_names
from . import ReportOptions
from .edits import fixable_text, preview
from .json_report import READ_AS, roots, summary
from .safe_text import printable, printable_lines
from .wrap import hang, terminal_width

STYLE = {"error": "bold red", "warning": "yellow", "note": "cyan"}


COLOR: dict[str, dict[str, Any]] = {"auto": {}, "always": {"force_terminal": True},
         "never": {"no_color": True, "color_system": None}}


def make_console(stream: TextIO, soft_wrap: bool = True, color: str = "auto") -> Console:
    # auto: rich turns colour off itself when the stream is not a terminal or NO_COLOR is set.
    console = Console(file=stream, highlight=False, soft_wrap=soft_wrap, emoji=False,
                      **COLOR[color])
    if not console.is_terminal:
        console.width = 200  # files and pipes: no folding at 80 columns
    return console


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _finding_blocks(result: Result, width: int | None = None,
                    lines_per_block: int = 2000) -> Iterator[Text]:
    """The findings as text, a few thousand lines at a time: rich's cost is per print call.
    On a terminal every line is folded at `width` with a hanging indent under its finding."""
    lines: list[Text] = []

    def add(text: Text, indent: int) -> None:
        lines.extend(hang(text, indent, width))

    shown = [f for f in result.findings if not f.suppressed]
    for file, group in groupby(shown, key=lambda f: f.file or "(no file)"):
        add(Text(printable(file), style="bold underline"), 2)
        for finding in group:
            location = f"{finding.line}" if finding.line else "-"
            add(Text.assemble(
                ("  " + location.rjust(5) + "  ", "dim"),
                (finding.severity.ljust(8), STYLE[finding.severity]),
                (f"{finding.rule} ", "bold"), (f"{finding.name}  ", "dim"),
                printable_lines(finding.message),
            ), 9)
            if len(finding.servers) > 1:
                add(Text.assemble(("         affects: ", "dim"),
                                  plural(len(finding.servers), "server")), 18)
                for entry in server_entries(finding.servers):
                    add(Text.assemble(("           - ", "dim"), printable(entry)), 13)
            source = result.workspace.source_line(finding.file, finding.line)
            if source is not None and source.strip():
                source = without_markers(source).strip()
                add(Text.assemble(("         | ", "dim"), (printable(source), "")), 11)
            for step in finding.trace:
                add(Text.assemble(("         -> ", "dim"), printable(step.label),
                                  (printable(f"  {step.file}:{step.line}"), "dim")), 12)
            for related in finding.related:
                add(Text.assemble(("         = related: ", "dim"), printable(related.label),
                                  (printable(f"  {related.file}:{related.line}"), "dim")), 20)
            if finding.fix:
                fix_lines = printable_lines(finding.fix).split("\n")
                add(Text.assemble(("         fix: ", "green"), fix_lines[0]), 14)
                for extra in fix_lines[1:]:
                    add(Text("              " + extra), 14)
            for preview in _fix_previews(result, finding):
                add(preview, 13)
        lines.append(Text())
        if len(lines) >= lines_per_block:
            yield Text("\n").join(lines)
            lines = []
    if lines:
        yield Text("\n").join(lines)


def _fix_previews(result: Result, finding: Finding) -> Iterator[Text]:
    """`fix (unsafe): title` and each edit as a small diff of the lines it changes."""
    for fix in finding.fixes:
        if not fix.applies and fix.title == finding.fix:
            continue  # advice already shown as `fix:`
        yield Text.assemble((f"         fix ({fix.applicability}): ", "green"),
                            printable(fix.title))
        for edit in fix.edits:
            lines = [result.workspace.source_line(edit.file, n)
                     for n in range(edit.start_line, edit.end_line + 1)]
            old, new = preview(lines, edit.start_line, edit)
            yield Text(printable(f"           {edit.file}:{edit.start_line}"), style="dim")
            for text in old:
                yield Text("           - " + printable(without_markers(text)), style="red")
            for text in new:
                yield Text("           + " + printable(without_markers(text)), style="green")


def server_entries(servers, shown: int = 5) -> list[str]:
    """One entry per affected server (its real names, then where it is), the first few and
    how many more: `shop.example.com www.example.com  sites/shop.conf:1`, `... and 35 more`."""
    entries = []
    for s in servers[:shown]:
        names = real_names(s.names)
        entries.append(f"{' '.join(names) or 'server'}  {s.file}:{s.line}")
    if len(servers) > shown:
        entries.append(f"... and {len(servers) - shown} more (see --format json)")
    return entries


def roots_text(read: list[dict], shown: int = 3) -> str:
    """`read: deploy/nginx/nginx.conf (a checkout)`, the first few and how many more."""
    if not read:
        return "read: nothing"
    parts = [f"{r['path']} ({READ_AS[r['read_as']]})" for r in read[:shown]]
    more = f" and {len(read) - shown} more (see --format json)" if len(read) > shown else ""
    return "read: " + ", ".join(parts) + more


def render(result: Result, stream: TextIO, color: str = "auto") -> None:
    console = make_console(stream, color=color)
    width = terminal_width(stream)
    for block in _finding_blocks(result, width):
        console.print(block)
    counts = summary(result)
    text = counts_text(counts)
    suppressed = sum(f.suppressed for f in result.findings)
    if suppressed:
        text += f"; {suppressed} suppressed (see --format json)"
    if result.target is not None:
        text += printable(f"; judged for {result.target.describe()}")
    style = "bold red" if counts["errors"] else ("yellow" if counts["warnings"] else "green")
    def say(line: Text, indent: int) -> None:
        for folded in hang(line, indent, width):
            console.print(folded)

    say(Text(printable(roots_text(roots(result))), style="dim"), 6)
    fixes = fixable_text(result.findings)
    if fixes:
        say(Text(fixes), 2)
    say(Text(text, style=style), 2)
    for note in result.notes:
        say(Text("note: " + printable(note), style="dim"), 6)


def render_probe(outcomes, address: str, name: str, stream: TextIO,
                 ca_names: list[str] | None = None) -> None:
    from rich.table import Table

    console = make_console(stream, soft_wrap=False)
    table = Table(title=f"probe {address} for {name}")
    for column in ("case", "result", "status", "detail"):
        table.add_column(column, overflow="fold")
    for o in outcomes:
        style = {"CONTENT SERVED": "bold red", "unreachable": "yellow",
                 "closed": "default"}.get(o.verdict, "green")
        table.add_row(o.case, Text(o.verdict, style=style), str(o.status or "-"), o.detail)
    console.print(table)
    # The server certificate once (it is the same for most cases), then the cases that got
    # another one: a column repeated it on every row.
    certificates = [o.server_certificate for o in outcomes if o.server_certificate]
    if certificates:
        usual = max(set(certificates), key=certificates.count)
        console.print(Text(f"server certificate: {usual}"))
        for o in outcomes:
            if o.server_certificate and o.server_certificate != usual:
                console.print(Text(f"server certificate for {o.case}: {o.server_certificate}"))
    if ca_names is None:
        console.print(Text("client CA names: not read (origin unreachable, or pyOpenSSL "
                           "missing: pip install 'nginx-mtls-lint[probe]')"))
    else:
        from ..probe import asks_cloudflare

        console.print(Text(f"client CA names the origin asks for ({name}): "
                           + ("; ".join(ca_names) if ca_names else "none")))
        console.print(Text("Cloudflare's origin-pull CA is " + (
            "" if asks_cloudflare(ca_names) else "NOT ") + "among them"))
    unreachable = [o.case for o in outcomes if o.verdict == "unreachable"]
    if unreachable:
        console.print(Text(f"{len(unreachable)} of {len(outcomes)} cases unreachable (they "
                           f"prove nothing): {'; '.join(unreachable)}", style="yellow"))


def report(result: Result, out: TextIO, options: ReportOptions) -> None:
    render(result, out, options.color)


def report_concise(result: Result, out: TextIO, options: ReportOptions) -> None:
    render_concise(result, out)


def render_concise(result: Result, stream: TextIO) -> None:
    """`file:line:col: SEVERITY RULE message`, one line per finding (`file: ...` without a
    line), then the count: for grep, editors and quickfix lists."""
    for f in result.findings:
        if not f.suppressed:
            where = f.file or "-"
            if f.line:
                where += f":{f.line}" + (f":{f.column}" if f.column else "")
            message = printable(" ".join(f.message.split()))
            stream.write(f"{printable(where)}: {f.severity} {f.rule} {message}\n")
    stream.write(counts_text(summary(result)) + "\n")


def counts_text(counts: dict) -> str:
    return (f"{plural(counts['errors'], 'error')}, {plural(counts['warnings'], 'warning')}, "
            f"{plural(counts['notes'], 'note')} in {plural(counts['files'], 'file')} "
            f"({plural(counts['servers'], 'server')})")


def render_statistics(result: Result, stream: TextIO) -> None:
    """How many findings each rule gave, most first."""
    counts: dict[tuple[str, str, str], int] = {}
    for f in result.findings:
        if not f.suppressed:
            key = (f.rule, f.name, f.severity)
            counts[key] = counts.get(key, 0) + 1
    for (rule, name, severity), count in sorted(counts.items(), key=lambda i: (-i[1], i[0])):
        stream.write(f"{count:>6}  {rule}  {severity:<8} {name}\n")
