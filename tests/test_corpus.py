"""The real-world corpus (../shared/corpus/real-world): no crash, and no MTLS9xx that comes
from our own reading rather than from the file (crossplane's parser is the oracle for syntax)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from conftest import SHARED, lint_in_process, skip_or_fail

CORPUS = SHARED / "corpus" / "real-world"


def corpus_dir() -> Path:
    if not (CORPUS / "MANIFEST.tsv").exists():
        skip_or_fail(f"{CORPUS} is absent: the corpus is only in the development workspace")
    return CORPUS


def manifest_files() -> list[Path]:
    if not (CORPUS / "MANIFEST.tsv").exists():
        return []
    with open(CORPUS / "MANIFEST.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    repos = {p.name: p for group in ("A", "B", "C") for p in (CORPUS / group).iterdir()}
    files = []
    for row in rows:
        folder = repos.get(row["repo"].replace("/", "__"))
        if folder and (folder / row["path"]).is_file():
            files.append(folder / row["path"])
    return files


def crossplane_rejects(path: Path) -> bool:
    import crossplane  # the test's oracle only; the product imports it in parser.py

    payload = crossplane.parse(str(path), single=True, comments=True, check_ctx=False)
    return payload["status"] == "failed"


def own_reading_problems(result, files: set[str]) -> list[str]:
    problems = []
    for finding in result.findings:
        # crossplane takes "}" as the end of an unterminated directive; nginx does not
        # (test_nginx_rejects_a_directive_ended_by_a_brace shows it), so those are real.
        # nor does it compile regexes: an unquoted `{4}` ends the token before it, and nginx
        # refuses the rest (test_invalid_regex shows both with nginx -t)
        if (finding.rule == "MTLS900" and not finding.message.startswith(
                ('unexpected "}":', "pcre2_compile() failed:"))
                and not crossplane_rejects(Path(finding.file))):
            problems.append(f"parse error crossplane does not see: {finding.file}:{finding.line} "
                            f"{finding.message}")
        elif finding.rule == "MTLS903":
            try:
                Path(finding.file).read_bytes().decode("utf-8")
                problems.append(f"valid UTF-8 reported as not: {finding.file}")
            except UnicodeDecodeError:
                pass
        elif finding.rule in ("MTLS904", "MTLS905"):
            problems.append(f"{finding.rule} {finding.file}:{finding.line} {finding.message}")
    return problems


def test_every_manifest_file_alone():
    corpus_dir()
    files = manifest_files()
    assert len(files) > 400
    problems = []
    for path in files:
        result = lint_in_process([path])
        problems += own_reading_problems(result, {str(path)})
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("group", ["A", "B", "C"])
def test_every_repository_as_a_tree(group: str):
    from nginx_mtls_lint.loader import UsageError

    for repo in sorted((corpus_dir() / group).iterdir()):
        try:
            result = lint_in_process([repo])
        except UsageError as e:  # no nginx-named file (e.g. only `v.2/example.com`): exit 2
            assert str(e).startswith(f"no nginx configuration found under {repo}"), str(e)
            continue
        problems = own_reading_problems(result, set())
        assert not problems, f"{repo.name}:\n" + "\n".join(problems)


@pytest.mark.nginx
def test_nginx_rejects_a_directive_ended_by_a_brace(tmp_path: Path):
    import subprocess

    from nginx_harness import nginx_binary

    (tmp_path / "nginx.conf").write_text(
        "events {}\nhttp {\n  server {\n    listen 127.0.0.1:18099\n  }\n}\n")
    result = subprocess.run([nginx_binary(), "-t", "-p", str(tmp_path), "-c",
                             str(tmp_path / "nginx.conf"), "-e", "stderr"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and 'unexpected "}"' in result.stderr
    ours = lint_in_process([tmp_path / "nginx.conf"])
    assert [(f.rule, f.line) for f in ours.findings] == [("MTLS900", 5)]
