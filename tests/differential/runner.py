"""One configuration on one nginx build: generate, plan, run, label, lint, classify, keep."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

import nginx_builds
from nginx_mtls_lint import versions

from .attacks import plan
from .compare import Record, Report, classify, linter_verdict
from .configs import generate
from .oracle import answers_of, flow_proof, label, make_pki, refused_somewhere, run, \
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

    def judge(self, seed: int, build: str) -> Record:
        gen = generate(seed)
        probes = plan(gen, self.budget, seed)
        work = self.work / f"{seed}-{build}"
        result = run(gen, probes, work, self.pki, self.binaries[build])
        answers = answers_of(result, probes)
        nginx = "error" if "error" in result else label(answers)
        linter = linter_verdict(write_case(gen, work / "lint") / "nginx.conf", self.pki,
                                self.fingerprint, self.targets[build])
        kind = classify(nginx, linter.verdict, refused_somewhere(answers))
        evidence = [f"{a.probe}: {a.outcome['detail']}" for a in answers
                    if a.outcome["content"] and not a.probe.valid][:8]
        if "error" in result:
            evidence = [result["error"]]
        record = Record(seed, build, nginx, linter.verdict, kind, gen.constructs, len(probes),
                        evidence, linter.findings)
        if kind not in ("agree", "cannot-prove"):
            proofs = tuple(filter(None, (flow_proof(a) for a in answers
                                         if a.outcome["content"])))[:3]
            write_case(gen, self.keep / f"{kind}-{seed}-{build}", nginx, proofs)
            (self.keep / f"{kind}-{seed}-{build}" / "evidence.txt").write_text(
                "\n".join(["nginx:"] + evidence + ["linter:"] + linter.findings) + "\n")
        shutil.rmtree(work, ignore_errors=True)
        with self.lock:
            self.report.add(record)
        return record
