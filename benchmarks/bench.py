"""Benchmark: nginx-mtls-lint against crossplane's own parse, on generated trees.

    python benchmarks/bench.py [--sizes 100 1000 10000] [--repeat 3]

For each size it writes a tree (one vhost file each under sites-enabled/, a shared CA file, a
few locations per vhost), then measures in fresh processes the wall time and peak memory of
(a) crossplane.parse() of the tree and (b) a full lint, and the ratio between them; and the
wall time of linting one fragment from a cold process (what pre-commit pays per commit).
Not a test: numbers depend on the machine. Targets: lint <= 1.25x crossplane, linear growth,
one fragment < 0.25 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VHOST = """server {{
    listen 443 ssl;
    listen [::]:443 ssl;
    server_name site{i}.example.com www.site{i}.example.com;
    ssl_certificate     /etc/nginx/certs/site{i}.pem;
    ssl_certificate_key /etc/nginx/certs/site{i}.key;
    ssl_client_certificate certs/client-ca.pem;
    ssl_verify_client on;
    real_ip_header CF-Connecting-IP;
    root /srv/site{i};
    location / {{
        try_files $uri $uri/ /index.php?$args;
    }}
    location ~ \\.php$ {{
        fastcgi_pass unix:/run/php/site{i}.sock;
        include fastcgi_params;
    }}
    location /static/ {{
        expires 30d;
        add_header Cache-Control "public";
    }}
}}
"""


def make_ca(path: Path) -> str:
    """Write a client CA; return its SHA-256 fingerprint (declared as the expected zone-level
    AOP CA, so a correct tree lints clean, as most of a large host's vhosts would)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench CA")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert.fingerprint(hashes.SHA256()).hex()


def make_tree(root: Path, count: int) -> Path:
    (root / "sites-enabled").mkdir(parents=True)
    (root / "certs").mkdir()
    (root / "expected-ca.txt").write_text(make_ca(root / "certs" / "client-ca.pem"))
    (root / "fastcgi_params").write_text("fastcgi_param QUERY_STRING $query_string;\n")
    (root / "nginx.conf").write_text(
        "events {}\nhttp {\n    include fastcgi_params;\n    include sites-enabled/*.conf;\n}\n")
    for i in range(count):
        (root / "sites-enabled" / f"site{i:05d}.conf").write_text(VHOST.format(i=i))
    return root / "nginx.conf"


CROSSPLANE = """
import sys, time, resource, crossplane
start = time.perf_counter()
payload = crossplane.parse(sys.argv[1], comments=True)
elapsed = time.perf_counter() - start
print(elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
LINT = """
import sys, time, resource, os
import importlib, pkgutil, nginx_mtls_lint, nginx_mtls_lint.cli
for module in pkgutil.walk_packages(nginx_mtls_lint.__path__, "nginx_mtls_lint."):
    if not module.name.endswith("__main__"):
        importlib.import_module(module.name)  # every import before the clock, like crossplane's
import cryptography.x509
start = time.perf_counter()
expected = open(os.path.join(os.path.dirname(sys.argv[1]), "expected-ca.txt")).read()
sys.argv = ["nginx-mtls-lint", "--format", "json", "--output", os.devnull,
            "--expect-ca", "*.example.com=" + expected, sys.argv[1]]
code = nginx_mtls_lint.cli.main()
elapsed = time.perf_counter() - start
print(elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
BASELINE = """
import resource; print(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def measure(script: str, target: Path, repeat: int) -> tuple[float, float, float]:
    """Best in-process time after imports (s), best whole-process wall time (s, interpreter
    start and imports included) and peak RSS above an idle interpreter's (MiB)."""
    idle = int(subprocess.run([sys.executable, "-c", BASELINE], capture_output=True,
                              text=True).stdout.split()[1])
    best_time, best_process, best_rss = float("inf"), float("inf"), 0.0
    for _ in range(repeat):
        began = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True,
                             text=True, check=False)
        best_process = min(best_process, time.perf_counter() - began)
        elapsed, rss = out.stdout.split()[-2:]
        best_time = min(best_time, float(elapsed))
        best_rss = max(best_rss, (int(rss) - idle) / 1024)
    return best_time, best_process, best_rss


def cold_fragment(target: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nginx_mtls_lint", str(target)],
                       capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            conf = make_tree(Path(scratch) / f"tree{size}", size)
            cp_time, cp_process, cp_rss = measure(CROSSPLANE, conf, args.repeat)
            lint_time, lint_process, lint_rss = measure(LINT, conf, args.repeat)
            rows.append({"vhosts": size, "crossplane_s": round(cp_time, 3),
                         "lint_s": round(lint_time, 3), "time_ratio": round(lint_time / cp_time, 2),
                         "crossplane_process_s": round(cp_process, 3),
                         "lint_process_s": round(lint_process, 3),
                         "process_ratio": round(lint_process / cp_process, 2),
                         "crossplane_mib": round(cp_rss, 1), "lint_mib": round(lint_rss, 1),
                         "memory_ratio": round(lint_rss / cp_rss, 2) if cp_rss > 1 else None})
            print(json.dumps(rows[-1]), flush=True)
        single = make_tree(Path(scratch) / "fragment", 1)
        cold = cold_fragment(single.parent / "sites-enabled" / "site00000.conf", args.repeat)
    print(json.dumps({"cold_fragment_s": round(cold, 3)}))
    if len(rows) >= 2:
        growth = [(b["lint_s"] / a["lint_s"], b["vhosts"] / a["vhosts"])
                  for a, b in zip(rows, rows[1:])]
        print(json.dumps({"growth": [f"{g:.1f}x time for {n:.0f}x vhosts" for g, n in growth]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
