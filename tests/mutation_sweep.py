"""Mutation sweep: small semantic mutations of the fixtures/flow/ cases, each labelled by a real
nginx (the sweep of tests/test_flow_labels.py) and compared with the linter's verdict (as
tests/test_flow_fixtures.py reads it: an error of a bypass rule is bypass, MTLS007 broken,
neither held). Not part of any test run; by hand, as root (network namespaces):

    python tests/mutation_sweep.py [--limit N] [--seed S] [--case NAME ...] [--mutation M ...]
                                   [--keep DIR] [--jobs J]

Prints one line per mutant, and for each disagreement the mutant's folder (kept under --keep)
and the evidence. Exit code 1 when a disagreement was found.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402

from conftest import lint_in_process  # noqa: E402
from nginx_harness import nginx_binary  # noqa: E402
from test_flow_fixtures import BYPASS_RULES  # noqa: E402
from test_flow_labels import FLOW, in_private_network, label_summary, load_case, \
    make_flow_pki, nginx_label, run_case  # noqa: E402

CHECK = re.compile(r"^if\s*\(\s*\$ssl_client_verify\b")


# --------------------------------------------------------------------------- the statements

@dataclass
class Statement:
    start: int
    end: int  # after the `;` or the closing `}`
    parents: tuple[str, ...]  # the names of the enclosing blocks (outermost first)
    block: bool

    def text(self, conf: str) -> str:
        return conf[self.start:self.end]

    def name(self, conf: str) -> str:
        return conf[self.start:self.end].split(None, 1)[0].split("(")[0].rstrip(";{")


def statements(conf: str) -> list[Statement]:
    """Every directive and block of the text, in order of their ends."""
    found: list[Statement] = []
    stack: list[tuple[int, str]] = []
    start, i, quote = None, 0, ""
    while i < len(conf):
        char = conf[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif char == "#":
            i = conf.find("\n", i)
            i = len(conf) if i < 0 else i
            continue
        elif char in "\"'":
            quote = char
            start = i if start is None else start
        elif char == ";":
            if start is not None:
                found.append(Statement(start, i + 1, tuple(n for _, n in stack), False))
            start = None
        elif char == "{":
            head = conf[start if start is not None else i:i].split()
            stack.append((start if start is not None else i, head[0] if head else ""))
            start = None
        elif char == "}":
            if stack:
                begin, _ = stack.pop()
                found.append(Statement(begin, i + 1, tuple(n for _, n in stack), True))
            start = None
        elif not char.isspace() and start is None:
            start = i
        i += 1
    return found


def checks(conf: str, parent: str) -> list[Statement]:
    """`if ($ssl_client_verify ...)` blocks directly inside a `parent` block."""
    return [s for s in statements(conf) if s.block and s.parents and s.parents[-1] == parent
            and CHECK.match(s.text(conf))]


def cut(conf: str, s: Statement) -> str:
    return conf[:s.start] + conf[s.end:]


def insert(conf: str, at: int, text: str) -> str:
    return conf[:at] + text + "\n" + conf[at:]


def block_opening(conf: str, s: Statement) -> int:
    """Just after the `{` of block `s`."""
    return conf.index("{", s.start) + 1


def enclosing(conf: str, s: Statement, name: str) -> Statement | None:
    return next((b for b in statements(conf) if b.block and b.start < s.start and b.end >= s.end
                 and b.name(conf) == name and len(b.parents) == len(s.parents) - 1), None)


# --------------------------------------------------------------------------- the mutations
# Each takes nginx.conf's text and yields what it made of it.

@dataclass
class Made:
    description: str
    text: str  # the new nginx.conf
    files: dict[str, str] = field(default_factory=dict)  # more files of the case
    head: str = ""  # header lines to add (`# uris:`, `# proof:`)


def check_into_location(conf):
    for check in checks(conf, "server"):
        server = enclosing(conf, check, "server")
        first = next((s for s in statements(conf) if s.block and s.name(conf) == "location"
                      and server and server.start < s.start < server.end
                      and len(s.parents) == len(check.parents)), None)
        if first:
            text = check.text(conf)
            moved = insert(conf, block_opening(conf, first), text)
            yield Made("check moved into the first location",
                       cut_after(moved, check, first, conf))


def cut_after(moved: str, check: Statement, target: Statement, conf: str) -> str:
    """Remove the original `check` from `moved`, where its text was inserted at `target`."""
    if check.start < target.start:
        return cut(moved, check)
    shift = len(check.text(conf)) + 1
    return moved[:check.start + shift] + moved[check.end + shift:]


def check_out_of_location(conf):
    for check in checks(conf, "location"):
        location = enclosing(conf, check, "location")
        if location and location.parents[-1] == "server":
            text = check.text(conf)
            yield Made("check moved out of its location to server level",
                       insert(cut(conf, check), location.start, text))


def swap_locations(conf):
    found = statements(conf)
    locations = [s for s in found if s.block and s.name(conf) == "location"
                 and s.parents and s.parents[-1] == "server"]
    for a, b in zip(locations, locations[1:]):
        between = conf[a.end:b.start]
        if between.strip() and not all(line.strip().startswith("#") or not line.strip()
                                       for line in between.splitlines()):
            continue  # not neighbours
        yield Made("two locations swapped",
                   conf[:a.start] + b.text(conf) + between + a.text(conf) + conf[b.end:])
        break


def swap_around_check(conf):
    for check in checks(conf, "server"):
        siblings = [s for s in statements(conf) if s.parents == check.parents
                    and not (s.start > check.start and s.end < check.end)]
        siblings.sort(key=lambda s: s.start)
        index = next(i for i, s in enumerate(siblings) if s.start == check.start)
        for other in (siblings[index - 1] if index else None,
                      siblings[index + 1] if index + 1 < len(siblings) else None):
            if other is None or other.name(conf) in ("listen", "server_name") or \
                    enclosing(conf, other, "server") != enclosing(conf, check, "server"):
                continue
            a, b = sorted((check, other), key=lambda s: s.start)
            yield Made(f"check swapped with the server-level `{other.name(conf)}`",
                       conf[:a.start] + b.text(conf) + conf[a.end:b.start] + a.text(conf)
                       + conf[b.end:])


RETURNS = {"444": "return 444;", "301": "return 301 https://$host$request_uri;",
           "200": 'return 200 "denied";'}


def change_return(conf):
    found = [m for m in re.finditer(r"\breturn\s+403\s*;", conf)]
    if found:
        for name, text in RETURNS.items():
            yield Made(f"return 403 -> {text}", re.sub(r"\breturn\s+403\s*;", text, conf))


def change_verify(conf):
    modes = ("on", "optional", "optional_no_ca")
    for match in re.finditer(r"\bssl_verify_client\s+(on|optional|optional_no_ca)\s*;", conf):
        for mode in modes:
            if mode != match[1]:
                yield Made(f"ssl_verify_client {match[1]} -> {mode} (at {match.start()})",
                           conf[:match.start(1)] + mode + conf[match.end(1):], {},
                           host_of(conf, match.start()))


def host_of(conf: str, at: int) -> str:
    """A `# proof:` line naming the first name of the server around `at`, so that the sweep
    visits it too (it tries the hosts the proofs name)."""
    server = server_around(conf, at)
    names = re.search(r"\bserver_name\s+([^;\s]+)", server.text(conf)) if server else None
    if names is None or names[1] in ("_", '""') or names[1][:1] in ".~" or "*" in names[1]:
        return ""
    return f"# proof: client=none uri=/ host={names[1]} -> content\n"


def server_around(conf: str, at: int) -> Statement | None:
    """The server block around position `at`."""
    return next((s for s in statements(conf) if s.block and s.name(conf) == "server"
                 and s.start < at < s.end), None)


def error_page_named(conf):
    for check in checks(conf, "server") + checks(conf, "location"):
        server = server_around(conf, check.start)
        if server:
            text = ("error_page 403 = @x;\n        location @x { proxy_pass "
                    "http://127.0.0.1:3000; }")
            yield Made("error_page 403 = @x proxying",
                       insert(conf, block_opening(conf, server), text))
            return


def rewrite_before_check(conf):
    for check in checks(conf, "server") + checks(conf, "location"):
        yield Made("rewrite ^/old/(.*)$ /$1 last; before the check",
                   insert(conf, check.start, "rewrite ^/old/(.*)$ /$1 last;"),
                   {}, "# uris: /old/ /old/page.html /old/index.html\n")


def second_server_name(conf):
    for check in checks(conf, "server") + checks(conf, "location"):
        server = server_around(conf, check.start)
        if server:
            yield Made("a second server_name alt.example.com",
                       insert(conf, block_opening(conf, server), "server_name alt.example.com;"),
                       {}, "# proof: client=none uri=/ host=alt.example.com -> content\n")
            return


def check_in_snippet(conf):
    for check in checks(conf, "server") + checks(conf, "location"):
        yield Made("the check in an included snippet",
                   insert(cut(conf, check), check.start, "include snippets/mtls-check.conf;"),
                   {"snippets/mtls-check.conf": check.text(conf) + "\n"})
        return


MUTATIONS = {f.__name__: f for f in (
    check_into_location, check_out_of_location, swap_locations, swap_around_check,
    change_return, change_verify, error_page_named, rewrite_before_check, second_server_name,
    check_in_snippet)}


@dataclass
class Mutant:
    case: str
    mutation: str
    description: str
    folder: Path


def mutants(cases: list[Path], names: list[str], work: Path) -> list[Mutant]:
    found = []
    for case in cases:
        conf = (case / "nginx.conf").read_text()
        for name in names:
            for number, made in enumerate(MUTATIONS[name](conf)):
                description, text, files, head = made.description, made.text, made.files, \
                    made.head
                if text == conf:
                    continue
                folder = work / f"{case.name}--{name}-{number}"
                shutil.copytree(case, folder)
                (folder / "nginx.conf").write_text(head + text)
                for path, content in files.items():
                    (folder / path).parent.mkdir(parents=True, exist_ok=True)
                    (folder / path).write_text(content)
                found.append(Mutant(case.name, name, description, folder))
    return found


# --------------------------------------------------------------------------- the verdicts

def linter_verdict(folder: Path, pki: Path, fingerprint: str) -> tuple[str, list[str]]:
    result = lint_in_process([folder / "nginx.conf"], path_map=[("/etc/nginx/certs", str(pki))],
                             expected_cas=[("*", frozenset({fingerprint}))])
    errors = [f for f in result.findings if f.severity == "error"]
    rules = {f.rule for f in errors}
    lines = [f"{Path(f.file).name}:{f.line} {f.rule}: {f.message}" for f in result.findings]
    if rules & BYPASS_RULES:
        return "bypass", lines
    return ("broken" if "MTLS007" in rules else "held"), lines


def nginx_verdict(folder: Path, pki: Path, binary: str, tmp: Path) -> tuple[str, str]:
    case = load_case(folder)
    result = in_private_network(lambda: run_case(case, tmp, pki, binary))
    if "error" in result:
        return "error", result["error"]
    return nginx_label(result), label_summary(result)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--case", nargs="*", default=[])
    parser.add_argument("--mutation", nargs="*", default=list(MUTATIONS))
    parser.add_argument("--keep", type=Path)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mutants-"))
    keep = args.keep or work / "disagreements"
    cases = [p for p in sorted(FLOW.iterdir()) if (p / "nginx.conf").is_file()
             and (not args.case or p.name in args.case) and not load_case(p).versions]
    (work / "pki").mkdir()
    pki = make_flow_pki(work / "pki")
    ca = x509.load_pem_x509_certificate((pki / "client-ca.pem").read_bytes())
    fingerprint = ca.fingerprint(hashes.SHA256()).hex().upper()
    every = mutants(cases, args.mutation, work / "mutants")
    random.Random(args.seed).shuffle(every)
    chosen = every[:args.limit]
    print(f"{len(every)} mutants of {len(cases)} cases; running {len(chosen)}", flush=True)
    binary = nginx_binary()

    def judge(numbered):
        number, mutant = numbered
        verdict, findings = linter_verdict(mutant.folder, pki, fingerprint)
        label, evidence = nginx_verdict(mutant.folder, pki, binary, work / f"run-{number}")
        return mutant, verdict, findings, label, evidence

    disagreements = 0
    with ThreadPoolExecutor(args.jobs) as pool:
        for mutant, verdict, findings, label, evidence in pool.map(judge, enumerate(chosen)):
            agree = label in (verdict, "error")
            print(f"{'ok  ' if agree else 'DIFF'} nginx={label:7} linter={verdict:7} "
                  f"{mutant.case}: {mutant.description}", flush=True)
            if not agree:
                disagreements += 1
                target = keep / mutant.folder.name
                shutil.copytree(mutant.folder, target, dirs_exist_ok=True)
                print(f"     kept in {target}\n     " + evidence.replace("\n", "\n     ")
                      + "\n     linter:\n       " + "\n       ".join(findings), flush=True)
            elif label == "error":
                print("     " + evidence.splitlines()[0][:200] if evidence else "", flush=True)
    print(f"{len(chosen)} mutants, {disagreements} disagreements")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
