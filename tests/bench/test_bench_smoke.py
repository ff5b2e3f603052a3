"""The forwarding benchmark end to end at tiny scale (N=2, 2 s): bench peers join a real node process over
the protocol, media is forwarded, the floor and the pure-Python path run, and the table is printed.
No timing assertions: this proves the harness works, not how fast the node is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_forwarding_bench_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtests.bench.forwarding",
            "--n",
            "2",
            "--duration",
            "2",
            "--warmup",
            "0.5",
            "--floor-sends",
            "20000",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=80,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| N | path | fwd pkts |" in proc.stdout
    assert (
        "| 2 | castellan |" in proc.stdout
        and "| 2 | python-ref |" in proc.stdout
        and "| 2 | floor |" in proc.stdout
    )
    assert "node / floor" in proc.stdout
    rows = {r["path"]: r for r in json.loads(out.read_text())}
    for path in ("castellan", "python-ref", "floor"):
        assert rows[path]["forwarded"] > 0, rows[path]
        assert rows[path]["cpu_s"] > 0, rows[path]
    # both node paths forwarded to both subscribers, which received what was forwarded
    for path in ("castellan", "python-ref"):
        assert rows[path]["received"] > 0 and rows[path]["expected"] > 0
    assert rows["castellan"]["p99_us"] is not None
