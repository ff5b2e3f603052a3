"""How long `castellan residency verify` takes for one meeting of 100 participants (issue 19: under a second).

Builds a tenant log on a SQLite file with the control plane's own code: `--records` other records (other
meetings' placements, admin actions), then the meeting — placed on eu-1, relayed to eu-2 and eu-3 nodes, 100
participants, every node signing a receipt every hour for `--hours` and a final one — with the tenant fetching
a head every `--fetch-every` records (so it holds many heads). Then it times the evidence export (control plane
side) and the offline check, in process and as the `castellan residency verify` command (process start
included), and prints the figures.

    .venv/bin/python -m loadtests.residency_verify                     # 20,000 records, 10 hours, ~100 heads
    .venv/bin/python -m loadtests.residency_verify --records 500 --hours 2   # the CI size (tests/residency)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from residency import receipts as rc
from residency.collection import collect
from residency.heads import HeldHeads
from residency.identity import public_text
from residency.logkey import KeySigner
from residency.service import ResidencyService
from residency.signing import public_key_pem
from residency.tenantlog import TenantLog
from residency.verify import PinnedKeys, verify_meeting

REPO = Path(__file__).resolve().parents[1]
REGIONS = [("eu-1", "EU", "Frankfurt, DE", "EU 1"), ("eu-2", "EU", "Paris, FR", "EU 2"),
           ("eu-3", "EU", "Milan, IT", "EU 3")]
MEETING = "all-hands"


def build(workdir: Path, records: int, hours: int, fetch_every: int) -> dict[str, object]:
    svc = ResidencyService(workdir / "castellan.db")
    for rid, j, loc, name in REGIONS:
        svc.define_region(rid, j, loc, name, actor="operator")
    svc.create_tenant("acme", "ACME", "EU", actor="operator")
    keys = {rid: Ed25519PrivateKey.generate() for rid, *_ in REGIONS}
    for rid, key in keys.items():
        svc.enroll_node_key(rid, public_text(key), actor="operator")
    log = TenantLog(svc.audit, KeySigner(Ed25519PrivateKey.generate()))
    (workdir / "log-key.pem").write_text(public_key_pem(log.signer.public_key()))
    held = HeldHeads(workdir / "heads.jsonl", log.signer.public_key())

    def fetch() -> None:
        head = log.head("acme")
        last = held.latest()
        held.accept(head, log.consistency("acme", last.tree_size, head.tree_size) if last else [])

    fetch()
    for start in range(0, records, fetch_every):  # one transaction per batch: the set-up is not what is timed
        with svc.db.transaction():
            for i in range(start, min(records, start + fetch_every)):
                svc.audit.append("placement.decided", actor="control-plane", tenant="acme",
                                 data={"room": f"room-{i}", "region": "eu-1", "node": "eu-1-a", "generation": 1,
                                       "reason": "least loaded"})
        fetch()
    svc.audit.append("placement.decided", actor="control-plane", tenant="acme",
                     data={"room": MEETING, "region": "eu-1", "node": "eu-1-a", "generation": 1, "reason": "hint"})
    t0 = 1_800_000_000
    nodes = {"eu-1": ("eu-1-a", ("eu-2-a", "eu-3-a")), "eu-2": ("eu-2-a", ()), "eu-3": ("eu-3-a", ())}
    for hour in range(1, hours + 2):
        for region, (node, relays) in nodes.items():
            kind = "final" if hour == hours + 1 else "interim"
            r = rc.Receipt(meeting=MEETING, tenant="acme", node=node, key_id="", region=region, jurisdiction="EU",
                           first_packet=t0, last_packet=t0 + 3600 * min(hour, hours), participants=100,
                           packets=hour * 40_000_000, bytes=hour * 30_000_000_000, relays=relays, kind=kind,
                           seq=hour, issued_at=t0 + 3600 * hour)
            collect(rc.sign(r, keys[region]).to_dict(), svc.store, svc.audit, svc.trust.keys())
        fetch()
    svc.end_room("acme", MEETING, actor="control-plane")
    fetch()
    (workdir / "node-keys.json").write_text(json.dumps(
        {"regions": [r.to_dict() for r in svc.regions().values()],
         "keys": [k.to_dict() for k in svc.trust.keys().values()]}))
    started = time.perf_counter()
    evidence = log.evidence("acme", MEETING, [h.tree_size for h in held.heads])
    export_s = time.perf_counter() - started
    (workdir / "evidence.json").write_text(json.dumps(evidence))
    started, cpu = time.perf_counter(), time.process_time()
    pinned = PinnedKeys.from_dict(json.loads((workdir / "node-keys.json").read_text()))
    report = verify_meeting(json.loads((workdir / "evidence.json").read_text()), MEETING,
                            HeldHeads(workdir / "heads.jsonl", log.signer.public_key()).heads,
                            log.signer.public_key(), pinned)
    verify_s, verify_cpu = time.perf_counter() - started, time.process_time() - cpu
    svc.db.close()
    return {"log_records": evidence["head"]["head"]["tree_size"],  # type: ignore[index]
            "held_heads": len(held.heads), "evidence_entries": len(evidence["entries"]),  # type: ignore[arg-type]
            "evidence_bytes": (workdir / "evidence.json").stat().st_size, "export_s": round(export_s, 3),
            "verify_in_process_s": round(verify_s, 3), "verify_in_process_cpu_s": round(verify_cpu, 3),
            "regions": report.regions(),
            "participants": [c.participants for c in report.carriages]}


def verify_command(workdir: Path) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall and CPU (user + system) seconds of the command, process start and imports included."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "signalling.cli", "residency", "verify", MEETING, "--heads",
                           str(workdir / "heads.jsonl"), "--log-key", str(workdir / "log-key.pem"), "--node-keys",
                           str(workdir / "node-keys.json"), "--evidence", str(workdir / "evidence.json")],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=20_000, help="other records in the tenant's log")
    ap.add_argument("--hours", type=int, default=10, help="hours the meeting ran (a receipt per node per hour)")
    ap.add_argument("--fetch-every", type=int, default=200, help="the tenant fetches a head every N records")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        figures = build(Path(d), args.records, args.hours, args.fetch_every)
        wall, cpu, done = verify_command(Path(d))
        print(done.stdout.strip())
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        figures["verify_command_s"] = round(wall, 3)
        figures["verify_command_cpu_s"] = round(cpu, 3)
        figures["load_average"] = os.getloadavg()[0]
        print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
