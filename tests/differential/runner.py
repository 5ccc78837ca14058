"""One configuration on one nginx build: generate, plan, run, label, lint, classify, keep."""

from __future__ import annotations

import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

import nginx_builds
from nginx_mtls_lint import versions

from .attacks import Probe, plan
from .compare import Record, Report, Verdict, classify, linter_verdict
from .configs import Generated, generate
from .minimise import minimise
from .oracle import Answer, answers_of, flow_proof, label, make_pki, refused_somewhere, run, \
    write_case

BUILDS = ("debian", *nginx_builds.VERSIONS)
DEBIAN = "/usr/sbin/nginx"


def binary_of(build: str) -> str:
    return DEBIAN if build == "debian" else str(nginx_builds.binary(build))


def target_of(build: str) -> versions.Target:
    """What the linter is told: the package version for Debian's nginx."""
    if build != "debian":
        return versions.parse_target(build, "differential")
    package = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "nginx"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    return versions.parse_target(package or "1.22.1", "differential")


class Runner:
    def __init__(self, work: Path, builds: list[str], budget: int, keep: Path):
        self.work, self.budget, self.keep = work, budget, keep
        self.pki = make_pki(work / "pki")
        ca = x509.load_pem_x509_certificate((self.pki / "client-ca.pem").read_bytes())
        self.fingerprint = ca.fingerprint(hashes.SHA256()).hex().upper()
        self.binaries = {b: binary_of(b) for b in builds}
        self.targets = {b: target_of(b) for b in builds}
        self.report = Report()
        self.lock = threading.Lock()

    def examine(self, gen: Generated, build: str, probes: list[Probe]) -> Examined:
        """Run `gen` on nginx with `probes`, ask the linter, classify."""
        work = self.work / f"{gen.seed}-{build}-{threading.get_ident()}"
        result = run(gen, probes, work, self.pki, self.binaries[build])
        answers = answers_of(result, probes)
        nginx = "error" if "error" in result else label(answers)
        linter = linter_verdict(write_case(gen, work / "lint") / "nginx.conf", self.pki,
                                self.fingerprint, self.targets[build])
        kind = classify(nginx, linter.verdict, refused_somewhere(answers),
                        linter.predicted_invalid)
        shutil.rmtree(work, ignore_errors=True)
        return Examined(kind, nginx, linter, answers, result.get("error"))

    def judge(self, seed: int, build: str) -> Record:
        gen = generate(seed)
        probes = plan(gen, self.budget, seed)
        seen = self.examine(gen, build, probes)
        evidence = [f"{a.probe}: {a.outcome['detail']}" for a in seen.answers
                    if a.outcome["content"] and not a.probe.valid][:8]
        if seen.error:
            evidence = [seen.error]
        record = Record(seed, build, seen.nginx, seen.linter.verdict, seen.kind,
                        gen.constructs, len(probes), evidence, seen.linter.findings)
        if seen.kind not in ("agree", "cannot-prove", "invalid"):
            self.keep_case(gen, build, seen, evidence)
        with self.lock:
            self.report.add(record)
        return record

    def keep_case(self, gen: Generated, build: str, seen: Examined, evidence: list[str],
                  name: str = "") -> Path:
        proofs = tuple(filter(None, (flow_proof(a) for a in seen.answers
                                     if a.outcome["content"])))[:3]
        folder = self.keep / (name or f"{seen.kind}-{gen.seed}-{build}")
        write_case(gen, folder, seen.nginx, proofs)
        (folder / "evidence.txt").write_text(
            "\n".join(["nginx:"] + evidence + ["linter:"] + seen.linter.findings) + "\n")
        return folder

    def minimise(self, seed: int, build: str, log=print) -> Path | None:
        """Delta-debug the disagreement of `seed` on `build` (minimise.py); keep the smallest
        configuration as `<class>-<seed>-<build>-min` beside the full one."""
        gen = generate(seed)
        probes = plan(gen, self.budget, seed)
        first = self.examine(gen, build, probes)
        if first.kind in ("agree", "cannot-prove"):
            return None

        def still(candidate: Generated) -> bool:
            """The same disagreement: its class, nginx's label, the linter's errors, and a
            client CA still loaded if one was (what the disagreement is about)."""
            if demands_certificate(gen.text) and not demands_certificate(candidate.text):
                return False
            ports = set(candidate.tls_ports + candidate.plain_ports + candidate.loopback_ports)
            seen = self.examine(candidate, build, [p for p in probes if p.port in ports])
            return signature(seen) == signature(first)

        small = minimise(gen, still, log=lambda m: log(f"seed {seed} on {build}: {m}"))
        ports = set(small.tls_ports + small.plain_ports + small.loopback_ports)
        seen = self.examine(small, build, [p for p in probes if p.port in ports])
        evidence = [f"{a.probe}: {a.outcome['detail']}" for a in seen.answers
                    if a.outcome["content"]][:8] or [seen.error or ""]
        return self.keep_case(small, build, seen, evidence, f"{first.kind}-{seed}-{build}-min")


def demands_certificate(text: str) -> bool:
    return "ssl_client_certificate" in text or "ssl_trusted_certificate" in text


def signature(seen: "Examined") -> tuple:
    errors = sorted({f.split()[1] for f in seen.linter.findings if " error: " in f})
    return seen.kind, seen.nginx, errors, seen.linter.valid_served


@dataclass
class Examined:
    kind: str
    nginx: str
    linter: Verdict
    answers: list[Answer]
    error: str | None
