"""Join storm benchmark: starts a control plane on 127.0.0.1, runs locust headless against it, once per path,
and prints joins/s, latency and errors for each.

    .venv/bin/python -m loadtests.joinstorm.run [--users 50] [--seconds 20] [--rooms 100]
"""

from __future__ import annotations

import argparse
import csv
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from signalling.control.passwords import DEFAULT_COST, default_workers

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
COST = (f"Argon2id m={DEFAULT_COST.memory_kib // 1024} MiB t={DEFAULT_COST.time_cost} p={DEFAULT_COST.parallelism}, "
        f"{default_workers()} hashing threads")
SCENARIOS = [("token path (link -> token)", "TokenPathUser"), ("password check (Argon2id)", "PasswordUser")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("joinstorm: the control plane exited during start-up")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("joinstorm: the control plane did not become ready")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the control-plane process (and its threads): load-independent cost."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_locust(url: str, user_class: str, users: int, seconds: int, links: Path, out: Path) -> dict[str, float]:
    prefix = out / user_class
    cmd = [str(Path(sys.executable).parent / "locust"), "-f", str(HERE / "locustfile.py"), user_class,
           "--headless", "--users", str(users), "--spawn-rate", str(users), "--run-time", f"{seconds}s",
           "--host", url, "--csv", str(prefix), "--only-summary", "--stop-timeout", "5"]
    env = {**os.environ, "CASTELLAN_JOINSTORM_LINKS": str(links)}
    print(f"  locust {user_class}: {users} users for {seconds} s ...", flush=True)
    subprocess.run(cmd, env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(f"{prefix}_stats.csv") as f:
        row = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    failures = Path(f"{prefix}_failures.csv")
    if failures.exists():
        with open(failures) as f:
            for r in csv.DictReader(f):
                print(f"    {user_class} error x{r['Occurrences']}: {r['Error'][:160]}", flush=True)
    return {
        "requests": float(row["Request Count"]),
        "failures": float(row["Failure Count"]),
        "rps": float(row["Requests/s"]),
        "p50": float(row["50%"] or 0),
        "p99": float(row["99%"] or 0),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--rooms", type=int, default=100)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="castellan-joinstorm-") as tmp:
        d = Path(tmp)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        links = d / "links.json"
        print(f"joinstorm: control plane on {url} ({args.rooms} rooms per path)", flush=True)
        server = subprocess.Popen(
            [sys.executable, "-m", "loadtests.joinstorm.server", "--dir", tmp, "--port", str(port),
             "--rooms", str(args.rooms), "--links", str(links)], cwd=ROOT)
        try:
            wait_ready(url, server)
            results = []
            for label, cls in SCENARIOS:
                cpu0 = cpu_seconds(server.pid)
                r = run_locust(url, cls, args.users, args.seconds, links, d)
                r["cpu_ms"] = (cpu_seconds(server.pid) - cpu0) * 1000 / max(1.0, r["requests"])
                results.append((label, r))
        finally:
            server.terminate()
            server.wait(10)
    print()
    print(f"{'path':<30} {'joins':>8} {'joins/s':>9} {'errors':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms/join':>12}")
    for label, r in results:
        print(f"{label:<30} {int(r['requests'] - r['failures']):>8} {r['rps'] - r['failures'] / args.seconds:>9.1f} "
              f"{int(r['failures']):>7} {r['p50']:>7.0f} {r['p99']:>7.0f} {r['cpu_ms']:>12.2f}")
    load = os.getloadavg()[0]
    print(f"({args.users} concurrent users, {args.seconds} s each, {os.cpu_count()} CPUs, load average {load:.1f}, "
          f"loopback; {COST}; CPU = the control plane process's own user+system time)")
    return 1 if any(r["failures"] for _, r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
