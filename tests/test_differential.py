"""The differential harness's fixed-seed slice (tests/differential/): generated configurations,
each run on Debian's nginx in a private network namespace and judged by the linter. Zero false
assurances (nginx served the site's content to a client without the valid certificate and the
linter called the configuration held); false alarms, broken-origin disagreements and "cannot
prove" are counted in the report printed with the result.

The slice covers every construct of the generator. The large runs: see
tests/differential/__main__.py (`python tests/differential --help`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import skip_or_fail
from differential.configs import all_constructs, generate
from differential.runner import Runner

pytestmark = [pytest.mark.nginx, pytest.mark.slow]

SEEDS = range(1, 121)
BUDGET = 40  # attacker requests per configuration beyond the core


def test_the_slice_covers_every_construct():
    seen = {c for seed in SEEDS for c in generate(seed).constructs}
    assert all_constructs() <= seen, sorted(all_constructs() - seen)
    # and all_constructs() names every choice the generator records
    assert seen <= all_constructs(), sorted(seen - all_constructs())


def test_the_same_seed_gives_the_same_configuration():
    assert generate(7).text == generate(7).text
    assert generate(7).text != generate(8).text


def test_no_false_assurance_on_the_fixed_seed_slice(tmp_path: Path):
    if os.geteuid() != 0 or not shutil.which("ip"):
        skip_or_fail("the differential harness runs nginx in a private network namespace: "
                     "root and iproute2 needed")
    from concurrent.futures import ThreadPoolExecutor

    runner = Runner(tmp_path, ["debian"], BUDGET, tmp_path / "disagreements")
    with ThreadPoolExecutor(2) as pool:
        records = list(pool.map(lambda seed: runner.judge(seed, "debian"), SEEDS))
    print("\n" + runner.report.summary())
    wrong = [r for r in records if r.kind == "false-assurance"]
    assert not wrong, "\n".join(
        f"seed {r.seed}: nginx {r.nginx}, linter {r.linter}\n  " + "\n  ".join(r.evidence)
        for r in wrong)
    judged = [r for r in records if r.kind not in ("invalid", "missed-invalid")]
    assert len(judged) >= 0.9 * len(records), runner.report.summary()
