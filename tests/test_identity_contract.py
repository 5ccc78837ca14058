"""Published identities survive: a baseline written by an earlier release, SARIF
`partialFingerprints` and GitLab fingerprints mark the same findings after messages changed.

tests/data/identities-v1-d248cf0.json holds what main at d248cf0 (the last version whose
messages said where their directives are) computed on every fixture. It was written by this
module run against that checkout:

    git worktree add /tmp/old d248cf0
    PYTHONPATH=/tmp/old python tests/test_identity_contract.py tests/data/identities-v1-d248cf0.json
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import FIXTURES, lint_in_process, run_cli  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "identities-v1-d248cf0.json"
CERTS = "<certs>"  # the generated certificates' folder, as the data file spells it
# Messages that carry what differs from run to run (generated certificates' dates and
# folders): their identities cannot be compared with a recorded one.
VARIES = re.compile(r"\d{4}-\d{2}-\d{2}|\bdays?\b|/tmp/|" + re.escape(CERTS))
# Claims a rule makes since d248cf0 that it did not make then: a finding making one is another
# finding (another claim, another severity), not the published one reworded. MTLS005 on a
# server that serves nobody is a warning about the future since issue 19 (was: an error saying
# the CA's holders reach the origin).
NEW_CLAIMS = re.compile(r"today the server gives nobody content")


def cases() -> list[tuple[Path, bool]]:
    """(what to lint, whether it reads the generated certificates)."""
    found = [(c / "nginx.conf" if c.is_dir() else c, True)
             for rule in sorted((FIXTURES / "rules").iterdir()) for c in sorted(rule.iterdir())]
    found += [(c / "nginx.conf", True) for c in sorted((FIXTURES / "flow").iterdir())
              if (c / "nginx.conf").is_file()]
    found += [(c / "nginx.conf", False) for c in sorted((FIXTURES / "trees").iterdir())]
    found.append((FIXTURES / "demo" / "nginx" / "nginx.conf", False))
    found += [(c, False) for c in sorted((FIXTURES / "kubernetes").rglob("*.yaml"))]
    return found


def fixture_identities(certs: Path, recorded_certs: str | None = None) -> dict[str, list[list]]:
    """case -> sorted [rule, file, line, identity, message] of every finding. A finding about
    a generated CA file is identified by the file's path: with `recorded_certs`, by the path
    it had when the identities were recorded."""
    from nginx_mtls_lint.identity import identities

    out = {}
    for target, mapped in cases():
        options = {"path_map": [("/etc/nginx/certs", str(certs))]} if mapped else {}
        findings = lint_in_process([target], **options).findings
        for f in findings:
            if recorded_certs and isinstance(f.cause, str):
                f.cause = f.cause.replace(str(certs), recorded_certs)
        keys = identities(findings)
        out[str(target.relative_to(FIXTURES))] = sorted(
            [f.rule, str(Path(f.file).resolve().relative_to(FIXTURES)) if f.file else None,
             f.line, keys[id(f)], f.message.replace(str(certs), CERTS)] for f in findings)
    return out


@pytest.mark.slow
def test_identities_of_every_fixture_are_those_d248cf0_published(certs_dir: Path):
    """Expectations may change since (a rule's wording, another rule's verdict): each finding
    recorded and found again on its line keeps its identity."""
    data = json.loads(DATA.read_text())
    recorded = data["cases"]
    now = fixture_identities(certs_dir, data["certs"])
    compared = changed = 0
    for case, old in recorded.items():
        if case not in now:
            continue  # a fixture added since, or removed: nothing was published for it
        # findings of one rule on one line are told apart by their identities only
        new: dict[tuple, list[str]] = {}
        claims_since: set[tuple] = set()
        for rule, file, line, key, message in now[case]:
            new.setdefault((rule, file, line), []).append(key)
            if NEW_CLAIMS.search(message):
                claims_since.add((rule, file, line))
        for rule, file, line, key, message in old:
            if VARIES.search(message) or (rule, file, line) not in new or \
                    (rule, file, line) in claims_since:
                continue
            compared += 1
            if key not in new.get((rule, file, line), []):
                changed += 1
                print(f"{case}: {rule} at {file}:{line} changed identity ({message})")
    assert compared > 800 and not changed


def test_a_baseline_written_by_d248cf0_marks_the_demo(tmp_path: Path):
    """The baseline d248cf0 wrote for the demo (`--write-baseline`) marks every finding."""
    demo = FIXTURES / "demo"
    baseline = Path(__file__).resolve().parent / "data" / "baseline-v1-d248cf0-demo.json"
    result = run_cli("--format", "json", "--baseline", str(baseline), "nginx/nginx.conf",
                     cwd=demo)
    assert result.returncode == 0, result.stdout.decode()[-2000:]
    findings = json.loads(result.stdout)["findings"]
    assert findings and all(f["suppressed"] for f in findings)


if __name__ == "__main__":
    import tempfile

    import conftest

    class Folders:
        def __init__(self):
            self.base = Path(tempfile.mkdtemp())

        def mktemp(self, name: str) -> Path:
            (self.base / name).mkdir()
            return self.base / name

    generated = conftest.certs_dir._fixture_function(Folders())
    Path(sys.argv[1]).write_text(json.dumps(
        {"certs": str(generated), "cases": fixture_identities(generated)}, indent=0) + "\n")
