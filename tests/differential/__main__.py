"""The differential run: generated configurations, each judged by a real nginx and by the
linter. As root (network namespaces), from the repository:

    python tests/differential [--configs N] [--seed S] [--budget R] [--builds B,...]
                              [--keep DIR] [--report FILE] [--jobs J]

--minutes: stop starting new configurations after that long (the report counts what ran).
--builds: debian (/usr/sbin/nginx) and/or upstream versions of tests/nginx_builds.py
(1.26.2, 1.28.0, 1.30.4); "all" for the four. --budget: attacker requests per configuration
(the valid client's come on top). The large runs of issue 19:

    python tests/differential --configs 2000 --seed 10001 --budget 40 --builds debian --jobs 2
    python tests/differential --configs 500 --seed 20001 --budget 40 --builds all --jobs 2

(seeds away from the fixed-seed slice's 1-120, which development tunes against).

Prints one line per disagreement and a summary (counts per class and per construct); writes
the JSON report to --report; keeps every disagreeing configuration as a fixtures/flow-style
case under --keep. Exit code 1 when a false assurance was found.

--minimise: then delta-debug each disagreement (worst class first, at most --minimise-limit
of them; minimise.py) and keep the smallest configuration that still disagrees in the same
way as `<class>-<seed>-<build>-min/nginx.conf` under --keep. One seed alone:

    python tests/differential --seed 11 --configs 1 --minimise --keep /tmp/cases
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from differential.compare import CLASSES  # noqa: E402
from differential.runner import BUILDS, Runner  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--builds", default="debian")
    parser.add_argument("--keep", type=Path)
    parser.add_argument("--report", type=Path)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--minutes", type=float, default=0,
                        help="stop starting configurations after this long (0: no limit)")
    parser.add_argument("--minimise", action="store_true",
                        help="delta-debug each disagreement to a smallest configuration")
    parser.add_argument("--minimise-limit", type=int, default=10)
    args = parser.parse_args(argv)
    builds = list(BUILDS) if args.builds == "all" else args.builds.split(",")
    work = Path(tempfile.mkdtemp(prefix="differential-"))
    runner = Runner(work, builds, args.budget, args.keep or work / "disagreements")
    started = time.monotonic()
    seeds = range(args.seed, args.seed + args.configs)
    jobs = [(seed, build) for seed in seeds for build in builds]
    deadline = started + args.minutes * 60 if args.minutes else None

    def judge(job):
        if deadline is not None and time.monotonic() > deadline:
            return None  # out of time: the report counts what ran
        return runner.judge(*job)

    with ThreadPoolExecutor(args.jobs) as pool:
        for record in pool.map(judge, jobs):
            if record is not None and record.kind not in ("agree", "cannot-prove", "invalid"):
                print(f"{record.kind}: seed {record.seed} on {record.build}: nginx "
                      f"{record.nginx}, linter {record.linter}", flush=True)
    print(runner.report.summary())
    print(f"{time.monotonic() - started:.0f} s; disagreements kept in {runner.keep}")
    if args.report:
        runner.report.write(args.report)
    if args.minimise:
        minimise_all(runner, args.minimise_limit)
    return 1 if runner.report.counts()["false-assurance"] else 0


def minimise_all(runner: Runner, limit: int) -> None:
    worst_first = {kind: rank for rank, kind in enumerate(CLASSES)}
    wrong = sorted((r for r in runner.report.records
                    if r.kind not in ("agree", "cannot-prove", "invalid")),
                   key=lambda r: (worst_first[r.kind], r.seed))
    for record in wrong[:limit]:
        kept = runner.minimise(record.seed, record.build)
        if kept is not None:
            lines = (kept / "nginx.conf").read_text().count("\n")
            print(f"{record.kind}: seed {record.seed} on {record.build}: minimal case "
                  f"({lines} lines) in {kept}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
