"""Benchmark: nginx-mtls-lint against `crossplane parse` and `nginx -t`, on generated trees.

    python benchmarks/bench.py [--max 4000 | --sizes 1000 2000 ... 50000]
                               [--trees simulated heavy] [--repeat 1] [--no-nginx]
                               [--gixy PATH] [--cold]

Every figure is a whole process (interpreter start, imports and all), timed by the wall clock,
its peak memory read from the kernel (wait4's ru_maxrss): what a user or CI waits for. For
each tree and size it runs, on the same tree in the same run:
  - the linter's command line (JSON to /dev/null),
  - `crossplane parse` (the parser's own command line, JSON to /dev/null),
  - `nginx -t` (the tree has the certificate files it loads),
and prints the ratios and the growth per doubling of the vhost count.

Trees (one TLS vhost per file under sites-enabled/):
  simulated: every server has a handler (`ssl_verify_client optional` and an `if` on
             $ssl_client_verify), so the request simulator runs for each;
  heavy:     the same, and maps (a chain of three, one on $request_uri with regex keys), a
             geo, and regex locations with captures and rewrites in every server.
Then the cold start of a one-vhost tree with a CA file, against gixy-ng's (--gixy, or `gixy`
on PATH) when present, and of `--version`: with hyperfine when it is installed (warm-up,
ten runs, mean and deviation), else the best of three. `--cold` measures only that; `--max N`
stops the doubling at N vhosts (a quick run: `--max 2000`).

Not a test: numbers depend on the machine. Targets (issue 20): the lint at most crossplane
parse + 25 % at every size, each doubling at most 2.1x, peak memory below nginx -t's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = [1000, 2000, 4000, 8000, 16000, 32000, 50000]

SIMULATED = """server {{
    listen 443 ssl;
    server_name site{i}.example.com www.site{i}.example.com;
    ssl_certificate     {root}/certs/server.pem;
    ssl_certificate_key {root}/certs/server.key;
    ssl_client_certificate {root}/certs/client-ca.pem;
    ssl_verify_client optional;
    root /srv/site{i};
    location / {{
        if ($ssl_client_verify != SUCCESS) {{ return 403; }}
        try_files $uri $uri/ /index.php?$args;
    }}
    location ~ \\.php$ {{
        if ($ssl_client_verify != SUCCESS) {{ return 403; }}
        fastcgi_pass unix:/run/php/site{i}.sock;
        include {root}/fastcgi_params;
    }}
    location /static/ {{
        if ($ssl_client_verify != SUCCESS) {{ return 403; }}
        expires 30d;
    }}
}}
"""

HEAVY = """server {{
    listen 443 ssl;
    server_name site{i}.example.com ~^(?<sub>[a-z]+)\\.site{i}\\.example\\.com$;
    ssl_certificate     {root}/certs/server.pem;
    ssl_certificate_key {root}/certs/server.key;
    ssl_client_certificate {root}/certs/client-ca.pem;
    ssl_verify_client optional;
    root /srv/site{i};
    if ($redirect_to) {{ return 301 $redirect_to; }}
    if ($blocked) {{ return 403; }}
    location / {{
        if ($verified != 1) {{ return 403; }}
        rewrite ^/old/(?<rest>.*)$ /new/$rest last;
        proxy_pass http://127.0.0.1:3000;
    }}
    location ~ ^/api/(?:v[0-9]+)/(?<resource>[[:alpha:]]+)(/.*)?$ {{
        if ($verified != 1) {{ return 403; }}
        proxy_pass http://127.0.0.1:3000;
    }}
    location ~* \\.(?:css|js|png|jpe?g|gif|svg|woff2?)$ {{
        if ($verified != 1) {{ return 403; }}
        expires 7d;
    }}
    location ^~ /new/ {{
        if ($verified != 1) {{ return 403; }}
        proxy_pass http://127.0.0.1:3001;
    }}
}}
"""

HEAVY_HTTP = """map $ssl_client_verify $cert_ok {{ default 0; SUCCESS 1; }}
map $cert_ok $from_office {{ default $cert_ok; }}
map $from_office $verified {{ default $from_office; }}
map $request_uri $redirect_to {{
    default "";
{redirects}
}}
geo $blocked {{
    default 0;
    192.0.2.0/24 1;
    198.18.0.0/15 1;
}}
"""

NGINX_CONF = """pid {root}/nginx.pid;
error_log {root}/error.log;
events {{}}
http {{
    access_log off;
    server_names_hash_bucket_size 128;
    server_names_hash_max_size 1048576;
{http}    include {root}/sites-enabled/*.conf;
}}
"""


def make_pki(certs: Path) -> None:
    """A client CA and one server certificate every vhost shares (nginx -t loads them)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    certs.mkdir(parents=True)
    for name, ca in (("client-ca", True), ("server", False)):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Bench {name}")])
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(key.public_key()).serial_number(1)
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        (certs / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (certs / f"{name}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))


def make_tree(root: Path, kind: str, count: int) -> Path:
    make_pki(root / "certs")
    (root / "sites-enabled").mkdir()
    (root / "fastcgi_params").write_text("fastcgi_param QUERY_STRING $query_string;\n")
    http = ""
    if kind == "heavy":
        redirects = "\n".join(f"    ~^/old-section-{k}/(?<page>.*)$ /section-{k}/$page;"
                              for k in range(200))
        http = HEAVY_HTTP.format(redirects=redirects)
    (root / "nginx.conf").write_text(NGINX_CONF.format(root=root, http=http))
    vhost = HEAVY if kind == "heavy" else SIMULATED
    for i in range(count):
        (root / "sites-enabled" / f"site{i:05d}.conf").write_text(vhost.format(i=i, root=root))
    return root / "nginx.conf"


# Python writes its bytecode into a cache outside the checkout, as an installed package has it
# (PYTHONDONTWRITEBYTECODE would make every process compile every module again: most of a
# small run). The scratch directory's cache is filled by a warm-up run of each command.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(command: list[str]) -> tuple[float, float, int]:
    """Wall time (s), peak RSS (MiB) and exit status of one whole process."""
    began = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=CHILD_ENV)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.stderr is not None:
        process.stderr.close()
    return elapsed, usage.ru_maxrss / 1024, process.returncode


def best(command: list[str], repeat: int) -> tuple[float, float, int]:
    runs = [run(command) for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs), runs[-1][2]


def commands(conf: Path, nginx: str | None) -> dict[str, list[str]]:
    found = {
        "lint": [*linter(), "--format", "json", "--output", os.devnull, str(conf)],
        "crossplane": [shutil.which("crossplane") or "crossplane", "parse", "--out",
                       os.devnull, str(conf)],
    }
    if nginx:
        found["nginx_t"] = [nginx, "-t", "-q", "-p", str(conf.parent), "-c", str(conf)]
    return found


def per_doubling(rows: list[dict], key: str) -> list[float]:
    """The growth of `key` between consecutive sizes, normalised to a doubling."""
    return [round((b[key] / a[key]) ** (1 / math.log2(b["vhosts"] / a["vhosts"])), 2)
            for a, b in zip(rows, rows[1:]) if a[key] > 0]


def measure_tree(kind: str, sizes: list[int], scratch: Path, nginx: str | None,
                 repeat: int) -> list[dict]:
    rows = []
    for size in sizes:
        conf = make_tree(scratch / f"{kind}{size}", kind, size)
        row: dict = {"tree": kind, "vhosts": size}
        for name, command in commands(conf, nginx).items():
            seconds, mib, status = best(command, repeat)
            row[f"{name}_s"], row[f"{name}_mib"] = round(seconds, 3), round(mib, 1)
            if name == "nginx_t" and status != 0:
                row["nginx_t_failed"] = status
        row["lint_over_crossplane"] = round(row["lint_s"] / row["crossplane_s"], 2)
        if "nginx_t_mib" in row:
            row["lint_mib_over_nginx_t"] = round(row["lint_mib"] / row["nginx_t_mib"], 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
        shutil.rmtree(conf.parent)
    return rows


def linter() -> list[str]:
    """The command users run: the console script beside this interpreter, else -m."""
    script = Path(sys.executable).parent / "nginx-mtls-lint"
    return [str(script)] if script.exists() else [sys.executable, "-m", "nginx_mtls_lint"]


def cold_start(scratch: Path, gixy: str | None, repeat: int) -> dict:
    """Seconds from a cold process to its answer, on a one-vhost tree with a CA file."""
    conf = make_tree(scratch / "cold", "simulated", 1)
    cases = {"lint_cold": [*linter(), "--format", "json", "--output", os.devnull, str(conf)],
             "lint_version": [*linter(), "--version"]}
    if gixy:
        cases["gixy_cold"] = [gixy, str(conf)]
    hyperfine = shutil.which("hyperfine")
    if hyperfine is None:
        return {f"{name}_s": round(best(command, repeat)[0], 3)
                for name, command in cases.items()}
    report = scratch / "hyperfine.json"
    subprocess.run([hyperfine, "--shell=none", "--warmup", "2", "--runs", "10", "-i",
                    "--export-json", str(report), "--style", "none",
                    *[" ".join(command) for command in cases.values()]],
                   check=True, stdout=subprocess.DEVNULL, env=CHILD_ENV)
    found: dict = {"timed_by": "hyperfine, 10 runs after 2 warm-ups (mean, stddev)"}
    for name, result in zip(cases, json.loads(report.read_text())["results"]):
        found[f"{name}_s"] = round(result["mean"], 3)
        found[f"{name}_stddev_s"] = round(result["stddev"], 3)
    if gixy:
        found["lint_over_gixy"] = round(found["lint_cold_s"] / found["gixy_cold_s"], 2)
    return found


def table(rows: list[dict]) -> list[str]:
    """The rows as a Markdown table (seconds and MiB of whole processes)."""
    lines = ["| tree | vhosts | lint | crossplane parse | ratio | nginx -t |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        nginx_t = f"{row['nginx_t_s']} s, {row['nginx_t_mib']} MiB" if "nginx_t_s" in row \
            else "-"
        lines.append(f"| {row['tree']} | {row['vhosts']:,} | {row['lint_s']} s, "
                     f"{row['lint_mib']} MiB | {row['crossplane_s']} s, "
                     f"{row['crossplane_mib']} MiB | {row['lint_over_crossplane']}x | "
                     f"{nginx_t} |")
    return lines if rows else []


def sizes_up_to(largest: int) -> list[int]:
    """1,000 doubling up to `largest`, and `largest` itself (50,000 ends the default run)."""
    return sorted({size for size in SIZES if size <= largest} | {largest})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    parser.add_argument("--max", type=int, help="sizes from 1,000 doubling up to this")
    parser.add_argument("--cold", action="store_true", help="only the cold start")
    parser.add_argument("--trees", nargs="+", default=["simulated", "heavy"],
                        choices=["simulated", "heavy"])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-nginx", action="store_true", help="leave nginx -t out")
    parser.add_argument("--gixy", default=shutil.which("gixy"), help="gixy-ng's command")
    args = parser.parse_args()
    nginx = None if args.no_nginx else shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    sizes = sizes_up_to(args.max) if args.max else sorted(args.sizes)
    summary: dict = {}
    all_rows: list[dict] = []
    with tempfile.TemporaryDirectory() as scratch:
        CHILD_ENV["PYTHONPYCACHEPREFIX"] = os.path.join(scratch, "pycache")
        warm_up = make_tree(Path(scratch) / "warm-up", "heavy", 1)
        for command in commands(warm_up, None).values():  # (the stdlib's cache too)
            run(command)
        for kind in [] if args.cold else args.trees:
            rows = measure_tree(kind, sizes, Path(scratch), nginx, args.repeat)
            all_rows += rows
            summary[kind] = {
                "lint_growth_per_doubling": per_doubling(rows, "lint_s"),
                "crossplane_growth_per_doubling": per_doubling(rows, "crossplane_s"),
                "nginx_t_growth_per_doubling": per_doubling(rows, "nginx_t_s")
                if nginx else None,
                "lint_mib_growth_per_doubling": per_doubling(rows, "lint_mib"),
                "worst_lint_over_crossplane": max(r["lint_over_crossplane"] for r in rows),
                "lint_peak_below_nginx_t": all(r.get("lint_mib_over_nginx_t", 0) < 1
                                               for r in rows) if nginx else None,
            }
        summary["cold_start"] = cold_start(Path(scratch), args.gixy, max(args.repeat, 3))
    print(json.dumps(summary, indent=2))
    print("\n".join(table(all_rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
