"""The linter's verdict on a generated configuration, against nginx's label, and the report.

The linter runs as a user would run it on such a site: every server Cloudflare-fronted
(`--assume-cloudflare`: the harness counts every request without the valid certificate that
gets the site's content as a bypass), the expected CA declared, the target version given.
Its verdict: bypass (an error of a bypass rule or MTLS005), broken (an MTLS007, MTLS003
or MTLS008 error), cannot-prove (no
bypass error and an MTLS914 finding), held (none of these).

Classes, worst first: false-assurance (nginx: bypass, linter: held or broken), false-alarm
(nginx: held or broken, linter: bypass), false-broken (nginx: held, linter: broken),
missed-broken (nginx: broken, linter: held), cannot-prove (the linter said it could not
decide; never a bypass found), agree; invalid when nginx -t refused the configuration and an
error of the linter said so (MTLS003, MTLS009, MTLS010, MTLS900), missed-invalid when none did.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from conftest import lint_in_process
from test_flow_fixtures import BYPASS_RULES

CANNOT_PROVE = "MTLS914"
# MTLS005 says "anyone holding a certificate from that CA reaches the origin": a bypass too.
CLAIMS_BYPASS = BYPASS_RULES | {"MTLS005"}
# Each says the valid client is refused (a broken origin).
CLAIMS_BROKEN = {"MTLS007", "MTLS003", "MTLS008"}
CLASSES = ("false-assurance", "false-alarm", "false-broken", "missed-broken", "missed-invalid",
           "cannot-prove", "agree", "invalid")
# An error of one of these says that nginx -t refuses the configuration.
CLAIMS_INVALID = {"MTLS003", "MTLS009", "MTLS010", "MTLS900"}


@dataclass
class Verdict:
    verdict: str
    findings: list[str] = field(default_factory=list)
    # whether the linter has the valid client get content on some http server (what a
    # broken-origin disagreement is about; the minimiser keeps it)
    valid_served: bool = False
    predicted_invalid: bool = False  # an error says nginx -t refuses the configuration


def linter_verdict(conf: Path, pki: Path, fingerprint: str, target) -> Verdict:
    result = lint_in_process([conf], path_map=[("/etc/nginx/certs", str(pki))],
                             expected_cas=[("*", frozenset({fingerprint}))], assume=True,
                             target=target)
    errors = {f.rule for f in result.findings if f.severity == "error"}
    rules = {f.rule for f in result.findings}
    lines = [f"{Path(f.file).name}:{f.line} {f.rule} {f.severity}: {f.message}"
             for f in result.findings]
    predicted = bool(errors & CLAIMS_INVALID)
    served = result.analysis is not None and any(
        result.analysis.flow(server).open_paths(("valid",)) for server in result.model.servers)
    if errors & CLAIMS_BYPASS:
        return Verdict("bypass", lines, served, predicted)
    if CANNOT_PROVE in rules:
        return Verdict("cannot-prove", lines, served, predicted)
    return Verdict("broken" if errors & CLAIMS_BROKEN else "held", lines, served, predicted)


def classify(nginx: str, linter: str, refused_somewhere: bool = False,
             predicted_invalid: bool = True) -> str:
    """`refused_somewhere`: the valid client got nothing on some port (MTLS007 judges one
    server; another may still serve the valid client). `predicted_invalid`: an error of the
    linter says nginx -t refuses the configuration."""
    if nginx == "error":
        return "invalid" if predicted_invalid else "missed-invalid"
    if linter == "cannot-prove":
        return "cannot-prove"
    if nginx == "bypass":
        return "agree" if linter == "bypass" else "false-assurance"
    if linter == "bypass":
        return "false-alarm"
    if linter == "broken":
        return "agree" if refused_somewhere else "false-broken"
    return "missed-broken" if nginx == "broken" else "agree"


@dataclass
class Record:
    seed: int
    build: str
    nginx: str
    linter: str
    kind: str
    constructs: list[str]
    requests: int
    evidence: list[str]
    findings: list[str]


@dataclass
class Report:
    records: list[Record] = field(default_factory=list)

    def add(self, record: Record) -> None:
        self.records.append(record)

    def counts(self) -> Counter:
        return Counter(r.kind for r in self.records)

    def per_construct(self) -> dict[str, Counter]:
        found: dict[str, Counter] = {}
        for record in self.records:
            for construct in set(record.constructs):
                found.setdefault(construct, Counter())[record.kind] += 1
        return found

    def summary(self) -> str:
        counts = self.counts()
        judged = sum(counts[k] for k in CLASSES if k not in ("invalid", "missed-invalid"))
        lines = [f"{len(self.records)} configurations ({judged} judged), "
                 f"{sum(r.requests for r in self.records)} requests"]
        lines += [f"  {kind}: {counts[kind]}" for kind in CLASSES]
        requests = sum(r.requests for r in self.records) or 1
        unsure = sum(r.requests for r in self.records if r.kind == "cannot-prove")
        lines.append(f"  requests on configurations the linter could not prove: {unsure} "
                     f"({100 * unsure / requests:.1f} %, an upper bound of the (server, "
                     "request) pairs)")
        bad = {k: c for k, c in self.per_construct().items()
               if c["false-assurance"] or c["false-alarm"] or c["cannot-prove"]}
        if bad:
            lines.append("per construct (false-assurance / false-alarm / cannot-prove / all):")
            for construct, c in sorted(bad.items(), key=lambda kv: -kv[1]["false-assurance"]):
                lines.append(f"  {construct}: {c['false-assurance']} / {c['false-alarm']} / "
                             f"{c['cannot-prove']} / {sum(c.values())}")
        return "\n".join(lines)

    def write(self, path: Path) -> None:
        path.write_text(json.dumps({
            "counts": dict(self.counts()),
            "per_construct": {k: dict(v) for k, v in sorted(self.per_construct().items())},
            "records": [vars(r) for r in self.records]}, indent=1))
