"""A long property-based fuzz run (the test suite runs the same properties briefly).

    python benchmarks/fuzz.py [--examples 20000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=20000)
    args = parser.parse_args()
    env = {**os.environ, "NGINX_MTLS_LINT_FUZZ_EXAMPLES": str(args.examples)}
    return subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            str(ROOT / "tests" / "test_properties.py"),
                            str(ROOT / "tests" / "test_parser.py")], cwd=ROOT, env=env)


if __name__ == "__main__":
    raise SystemExit(main())
