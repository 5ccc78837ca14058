"""Upstream nginx builds for version-dependent tests, made once per machine.

The sources are ../shared/data/nginx-src/nginx-<version>.tar.gz (git trees of the release
tags). Each build lands in a cache outside the checkout, keyed by version, tarball and
configure line: ~/.cache/nginx-mtls-lint/builds/<version>-<hash>/sbin/nginx (override the
folder with NGINX_MTLS_LINT_BUILD_CACHE). A file lock (fcntl) makes concurrent test runs wait
for one build instead of racing.

`python tests/nginx_builds.py` builds every version (CI does it before the tests).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSIONS = ("1.26.2", "1.28.0", "1.30.4")
# The flow corpus (tests/test_flow_labels.py) runs on these builds too: the modules its cases
# use beyond nginx's defaults (auth_request, `aio threads`; gzip is a default module) are
# built in.
CONFIGURE = ("--with-http_ssl_module", "--with-http_v2_module", "--with-http_realip_module",
             "--with-http_auth_request_module", "--with-threads", "--with-stream",
             "--with-stream_ssl_module")
SOURCES = Path(os.environ.get("NGINX_MTLS_LINT_SHARED",
                              Path(__file__).resolve().parent.parent.parent / "shared")
               ) / "data" / "nginx-src"
CACHE = Path(os.environ.get("NGINX_MTLS_LINT_BUILD_CACHE",
                            Path.home() / ".cache" / "nginx-mtls-lint" / "builds"))


class BuildUnavailable(Exception):
    """This machine cannot provide the build (no sources, no compiler, the build failed)."""


def _tarball(version: str) -> Path:
    path = SOURCES / f"nginx-{version}.tar.gz"
    if not path.exists():
        raise BuildUnavailable(f"{path} is absent: the nginx sources are in the shared data")
    return path


def _key(version: str, tarball: Path) -> str:
    digest = hashlib.sha256(tarball.read_bytes())
    digest.update("\0".join(CONFIGURE).encode())
    return f"{version}-{digest.hexdigest()[:12]}"


def binary(version: str) -> Path:
    """The cached binary of `version`, built now if this machine has none yet."""
    tarball = _tarball(version)
    home = CACHE / _key(version, tarball)
    nginx = home / "sbin" / "nginx"
    if nginx.exists():
        return nginx
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{home.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be building it: wait for it
        if not nginx.exists():
            _build(version, tarball, home)
    return nginx


def _build(version: str, tarball: Path, home: Path) -> None:
    for tool in ("cc", "make"):
        if shutil.which(tool) is None:
            raise BuildUnavailable(f"no {tool} to build nginx {version} "
                                   "(apt-get install build-essential)")
    with tempfile.TemporaryDirectory(prefix=f"nginx-{version}-") as work:
        with tarfile.open(tarball) as archive:
            archive.extractall(work, filter="data")
        tree = Path(work) / f"nginx-{version}"
        steps = (["sh", "auto/configure", f"--prefix={home}", *CONFIGURE],
                 ["make", f"-j{os.cpu_count() or 1}"])
        for step in steps:
            result = subprocess.run(step, cwd=tree, capture_output=True, text=True,
                                    timeout=900)
            if result.returncode != 0:
                tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
                raise BuildUnavailable(f"building nginx {version} failed at "
                                       f"{' '.join(step[:2])}: " + " | ".join(tail)
                                       + " (needs libpcre2-dev libssl-dev zlib1g-dev)")
        (home / "sbin").mkdir(parents=True, exist_ok=True)
        partial = home / "sbin" / "nginx.partial"
        shutil.copy2(tree / "objs" / "nginx", partial)
        partial.rename(home / "sbin" / "nginx")  # appears whole or not at all


def main() -> int:
    for version in VERSIONS:
        try:
            print(f"nginx {version}: {binary(version)}", flush=True)
        except BuildUnavailable as error:
            print(f"nginx {version}: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
