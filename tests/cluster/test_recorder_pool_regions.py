"""Compliance recording in region, fail closed (issue 15; docs/recording.md "One recording, with gaps"): eu-1's
recorder pools are killed mid-meeting, each pool host its own network namespace as in test_region_proof.py —

    clients ns (Chromium A, B) --veth-- cp ns (control plane + Redis, routes) --veth-- eu-1 ns   (node eu-1-a)
                                                                            --veth-- eu-1-a ns (pool-eu-1-a)
                                                                            --veth-- eu-1-b ns (pool-eu-1-b)
                                                                            --veth-- us-1 ns   (pool-us-1)

Real parts: `castellan control-plane` (recording archive on, Redis registry), `castellan node`, three
`castellan recorder-pool` processes (`python -m recording.pool`, each with its own scoped key, each opening a
Debian Chromium recorder page per job), two E2EE participants in Chromium (tests/browser/pool_failover_scenarios.py).
Tenant ACME allows only eu-1; its meeting's policy is `required`. tcpdump runs on every link the whole time, on
us-1's with whole packets.

  1. pool-eu-1-a's recorder joins by itself (both EU pools idle: the tie goes to the lower id); both decode.
  2. pool-eu-1-a is SIGKILLed — its process group and its Chromium's: the host is gone, once it has sealed a
     rolling segment (`--segment-seconds 5`; docs/recording.md "Segments") and nothing after. The meeting is held;
     its announcement expires, the control plane places the job again on pool-eu-1-b (never us-1), whose recorder
     continues the SAME recording (part 2; part 1 kept up to its last sealed segment and lost after it, the gap
     from that segment's end to eu-1-b's first frame); both decode again, and eu-1-b seals segments too.
  3. pool-eu-1-b is SIGKILLed as well: no recorder may run anywhere the tenant allows. The meeting stays held
     (nobody decodes a frame more, the node forwards not a packet, every page says recording could not start), the
     recording ends with its gap open to the end (`recording.continuation_refused`), and us-1 is still not asked.
  4. us-1's link carried not one packet of the meeting: no UDP, nothing to or from the node, the participants or
     the EU pools, and no byte naming the meeting, its link or a job — only its own announcements (which the
     whole-packet capture shows in the clear). The tenant's audit chain verifies and tells the placements:
     launched on pool-eu-1-a, then pool-eu-1-b, refused after; none on us-1. The export verifies offline.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.netns import run_driver, skip_unless_possible
from tests.cluster import cluster as cl
from tests.support.processes import PYTHON, Proc, descendants, group_members
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.netns, pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(420)]

TENANT = "acme"
REGIONS = [("eu-1", "EU", "Frankfurt, DE", "EU Central"), ("us-1", "US", "Ashburn, US", "US East")]
POOLS = {"pool-eu-1-a": ("eu-1-a", "eu-1"), "pool-eu-1-b": ("eu-1-b", "eu-1"), "pool-us-1": ("us-1", "us-1")}
NODE = "eu-1-a"  # the node's id; its namespace is "eu-1"
HTTP_PORT, UDP_PORT, CP_PORT, REDIS_PORT, CLIENT_PORT = 7882, 40002, 8002, 6392, 8092
BROWSER_SPOKES = ("clients", "eu-1-a", "eu-1-b", "us-1")  # each serves the client on its own loopback


@pytest.fixture
def topology() -> Iterator[cl.Topology]:
    skip_unless_possible()  # Chromium and Playwright (and root)
    with cl.topology(["clients", "eu-1", "eu-1-a", "eu-1-b", "us-1"]) as topo:
        yield topo


def _recording_setup(seeded: cl.Seeded, public_url: str, work: Path) -> dict[str, Any]:
    """The operator's recording set-up on the control plane's database before it starts: tenant keys, the
    tenant's policy (`required`), one scoped recorder pool key per pool (`POST /v1/recorder-pool-keys`)."""
    from recording.policy import RecordingPolicy
    from residency.registry import MemoryRegistry
    from signalling.control.app import build_control_plane
    from signalling.control.config import ControlConfig
    from signalling.control.recorderpools import RecorderPools
    from signalling.control.residency_adapter import open_residency

    keys = work / "tenant-keys.json"
    keys.write_text(json.dumps({TENANT: {"id": "acme-2026", "key": base64.b64encode(secrets.token_bytes(32)).decode()}}))
    keys.chmod(0o600)
    volume = work / "volume"
    config = ControlConfig(db=seeded.db, public_url=public_url, recording_volume=volume, recording_tenant_keys=keys)
    adapter = open_residency(config, registry=MemoryRegistry())
    control = build_control_plane(config, residency=adapter)
    assert control.recordings is not None
    control.recordings.archive.set_policy(TENANT, RecordingPolicy.REQUIRED, "operator:test", retention_days=0)
    pools = RecorderPools(control)
    pool_keys = {}
    for pool, (_, region) in POOLS.items():
        f = work / f"{pool}.key"
        f.write_text(pools.create_key("operator:test", region=region, label=pool)[1])
        f.chmod(0o600)
        pool_keys[pool] = f
    control.close()
    adapter.service.db.close()
    return {"volume": volume, "tenant_keys": keys, "pool_keys": pool_keys}


def _kill_host(pool: Proc) -> dict[str, Any]:
    """The pool's host dies: SIGKILL to the pool's process group and to every group its descendants run in
    (Playwright starts each Chromium in a group of its own), all at once; nothing gets to clean up."""
    groups = {pool.pid}
    for pid in descendants(pool.pid):
        try:
            groups.add(os.getpgid(pid))
        except ProcessLookupError:
            continue
    for g in groups:
        try:
            os.killpg(g, signal.SIGKILL)
        except ProcessLookupError:
            continue
    pool.kill()
    left = wait_until(lambda: not group_members(groups), 10, 0.1)
    return {"groups": sorted(groups), "left": [] if left else group_members(groups)}


def _files(root: Path) -> dict[str, int]:
    """The clear part files under a pool's working directory (name -> size)."""
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()} if root.exists() else {}


def _recording(db: Path) -> Any:
    """The meeting's recording as the archive holds it (read from the database: a listing would be audited)."""
    from recording.archive import Recording
    from residency.db import Database

    database = Database(db)
    try:
        rows = database.query("SELECT doc FROM recordings WHERE tenant = :t", {"t": TENANT})
    finally:
        database.close()
    return Recording.from_json(str(rows[0][0])) if len(rows) == 1 else None


def _sealed_segments(db: Path, part: int) -> list[dict[str, Any]]:
    rec = _recording(db)
    return [] if rec is None or rec.part != part else list(rec.parts[-1].get("segments", []))


def _timeline(root: Path, db: Path, rec: dict[str, Any], part: int) -> list[dict[str, Any]]:
    """The timeline a pool's recorder wrote (its tracks as their first frames came, a continuation's gap): the
    slices its part had sealed into the vault, then what its sink was still writing."""
    from recording.archive import part_prefix
    from recording.config import load_tenant_keys
    from recording.store import LocalVolumeStore, TenantVault

    recording = _recording(db)
    vault = TenantVault(LocalVolumeStore(rec["volume"]), load_tenant_keys(str(rec["tenant_keys"])))
    sealed = sorted(n for n in recording.parts[part - 1]["files"]
                    if n.startswith(part_prefix(part) + "timeline.seg"))
    texts = [vault.read(TENANT, f"{recording.id}/{n}").decode() for n in sealed]
    texts += [f.read_text() for f in root.rglob("timeline.jsonl")]
    return [json.loads(line) for t in texts for line in t.splitlines() if line]


def test_eu_recorder_pools_die_mid_meeting_continued_in_eu_then_held_never_us(topology: cl.Topology,
                                                                             tmp_path: Path) -> None:
    topo = topology
    clients = topo.spokes["clients"]
    hub_addr = clients.hub_addr
    cp_url = f"http://{hub_addr}:{CP_PORT}"
    redis_url = f"redis://{hub_addr}:{REDIS_PORT}/0"
    addr = {name: s.addr for name, s in topo.spokes.items()}
    procs = cl.Processes()
    captures: dict[str, cl.Capture] = {}
    pools: dict[str, Proc] = {}
    acted: dict[str, Any] = {}
    out: list[str] = []
    try:
        def redis_cli(*args: str) -> str:
            return subprocess.run(["ip", "netns", "exec", topo.hub, "redis-cli", "-h", "127.0.0.1", "-p",
                                   str(REDIS_PORT), *args], capture_output=True, text=True, timeout=5).stdout

        def in_clients(*argv: str) -> str:
            return subprocess.run(["ip", "netns", "exec", clients.ns, *argv], capture_output=True, text=True,
                                  timeout=10).stdout

        redis = procs.add(cl.RedisProc(tmp_path / "redis", REDIS_PORT, bind=("127.0.0.1", hub_addr), ns=topo.hub))
        redis.start(ping=lambda: "PONG" in redis_cli("ping"))
        seeded = cl.seed(tmp_path / "control" / "castellan.db", regions=REGIONS,
                         tenants=[(TENANT, "ACME", "EU", ["eu-1"])], links={"board": TENANT}, open_links=["board"],
                         public_url=cp_url)
        rec = _recording_setup(seeded, cp_url, tmp_path)
        procs.add(cl.control_plane(tmp_path, seeded.db, hub_addr, CP_PORT, redis_url, ns=topo.hub,
                                   env={"CASTELLAN_RECORDING_VOLUME": str(rec["volume"]),
                                        "CASTELLAN_RECORDING_TENANT_KEYS": str(rec["tenant_keys"])}))
        assert cl.wait_until(lambda: {"eu-1", "us-1"} <= set(redis_cli("hkeys", "castellan:regions").split()), 30), \
            "control plane did not publish the regions:\n" + procs.logs()
        procs.add(cl.node(tmp_path, NODE, "eu-1", addr["eu-1"], HTTP_PORT, UDP_PORT, redis_url, cp_url,
                          ns=topo.spokes["eu-1"].ns))
        operator_key = (seeded.db.parent / "operator.key")
        assert cl.wait_until(operator_key.exists, 20), procs.logs()

        # every browser's namespace serves the development client on its own loopback (a secure context)
        for name in BROWSER_SPOKES:
            cfg = tmp_path / f"client-{name}.json"
            cfg.write_text(json.dumps({"port": CLIENT_PORT, "out": str(tmp_path / f"client-{name}.out.json")}))
            procs.add(Proc(f"client {name}", [PYTHON, "tests/browser/stack.py", str(cfg)],
                           tmp_path / f"client-{name}.log", ns=topo.spokes[name].ns))
        assert cl.wait_until(lambda: all((tmp_path / f"client-{n}.out.json").exists() for n in BROWSER_SPOKES), 30), \
            procs.logs()

        # the captures run from before any pool starts until the meeting is over
        for name in ("eu-1", "eu-1-a", "eu-1-b", "us-1"):
            s = topo.spokes[name]
            captures[name] = procs.add(cl.Capture(s.ns, s.iface, tmp_path / f"{name}.pcap",
                                                  snaplen=0 if name == "us-1" else 128))
        assert cl.wait_until(lambda: all(c.started() for c in captures.values()), 10), \
            "\n".join(c.tail() for c in captures.values())

        # the tenant deposits its link's secret with the pools (the control plane never has it)
        link = {**seeded.links["board"], "secret": base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()}
        link_secrets = tmp_path / "link-secrets.json"
        link_secrets.write_text(json.dumps({link["link"]: link["secret"]}))
        workdirs = {pool: tmp_path / f"{pool}-work" for pool in POOLS}
        for pool, (spoke, _) in POOLS.items():  # us-1 first: it announces before and all through the meeting
            argv = [PYTHON, "-m", "recording.pool", "--control-plane-url", cp_url, "--key-file",
                    str(rec["pool_keys"][pool]), "--pool-id", pool, "--capacity", "1",
                    "--client-url", f"http://127.0.0.1:{CLIENT_PORT}", "--database", str(seeded.db),
                    "--volume", str(rec["volume"]), "--tenant-keys", str(rec["tenant_keys"]),
                    "--link-secrets", str(link_secrets), "--workdir", str(workdirs[pool]), "--interval", "1",
                    "--segment-seconds", "5"]
            pools[pool] = procs.add(Proc(pool, argv, tmp_path / f"{pool}.log", ns=topo.spokes[spoke].ns))
        announced = lambda: {k.rsplit(":", 1)[1] for k in redis_cli("keys", "castellan:doc:recorder_pool:*").split()}  # noqa: E731
        assert cl.wait_until(lambda: announced() == set(POOLS), 60), f"pools not announced: {announced()}\n" + procs.logs()

        def placeable() -> bool:
            text = in_clients("curl", "-s", f"{cp_url}/metrics")
            return 'castellan_nodes_placeable{region="eu-1"} 1' in text.replace(".0\n", "\n")
        assert cl.wait_until(placeable, 30), "the control plane did not verify the node:\n" + procs.logs()

        # the meeting, driven in the participants' namespace; the pools die at its checkpoints
        checkpoints = tmp_path / "checkpoints"
        checkpoints.mkdir()
        cfg = {"control_url": cp_url, "client_url": f"http://127.0.0.1:{CLIENT_PORT}", "tenant": TENANT,
               "link": link, "operator_key": operator_key.read_text().strip(),
               "node_url": f"http://{addr['eu-1']}:{HTTP_PORT}", "checkpoints": str(checkpoints),
               "record_seconds": 5, "quiet": 8}
        driven: dict[str, Any] = {}

        def drive() -> None:
            try:
                driven["result"] = run_driver(clients.ns, "pool_failover", cfg, timeout=330,
                                              name=f"pool-failover-{topo.tag}")
            except BaseException as e:  # noqa: BLE001 - re-raised by the test's thread
                driven["error"] = e

        driver = threading.Thread(target=drive, name="pool-failover-driver")
        driver.start()
        for part, (step, pool) in enumerate((("kill_a", "pool-eu-1-a"), ("kill_b", "pool-eu-1-b")), 1):
            reached = wait_until(lambda s=step: (checkpoints / f"{s}.reached").exists() or not driver.is_alive(),
                                 330, 0.1)
            if not reached or not (checkpoints / f"{step}.reached").exists():
                break
            # it dies once it has sealed a segment of its part (the meeting goes on meanwhile)
            assert wait_until(lambda p=part: bool(_sealed_segments(seeded.db, p)), 60, 0.5), \
                f"{pool} sealed no segment of part {part}:\n" + pools[pool].tail()
            # what its recorder had sealed and was writing when it died
            acted[step] = {"files": _files(workdirs[pool]),
                           "timeline": _timeline(workdirs[pool], seeded.db, rec, part)}
            acted[step].update(_kill_host(pools[pool]))
            (checkpoints / f"{step}.done").write_text("")
        driver.join(360)
        if "error" in driven:
            raise driven["error"]
        result = driven["result"]
        for c in captures.values():
            c.stop()
        assert "error" not in result, result["error"] + "\nconsole:\n" + "\n".join(result.get("console", [])[-30:]) \
            + "\n" + "\n".join(pools[p].tail() for p in POOLS)

        # 1-2. recorded by eu-1-a, then continued by eu-1-b: both decoded with each one in
        assert set(result["first_indicators"].values()) == {"● REC"}, result["first_indicators"]
        assert all(v["waiting"] for v in result["held_a"].values())  # held while no recorder is in
        assert set(result["continued_indicators"].values()) == {"● REC"}, result["continued_indicators"]
        people = {v["participant"] for v in result["first"].values()}
        for step in ("kill_a", "kill_b"):  # each pool died mid-recording, with every process it had
            assert acted[step]["left"] == [], acted[step]
            tracks = {(e["participant"], e["media"]) for e in acted[step]["timeline"] if e["kind"] == "track"}
            assert tracks == {(p, m) for p in people for m in ("audio", "video")}, (step, tracks)  # frames of each
        # 3. fail closed: held, nobody decodes a frame more, the node forwards nothing, every page says so
        assert set(result["refused_indicators"].values()) == {"Recording could not start"}
        assert all(result["held_waiting"].values()), result["held_waiting"]
        settled, later = result["held_frames"]
        assert later == settled, f"media decoded with no recorder in: {settled} -> {later}"
        node_before, node_after = result["held_node"]
        assert node_before["rooms_held"] == node_after["rooms_held"] == 1, result["held_node"]
        assert node_after["forwarded"] == node_before["forwarded"] > 0, result["held_node"]  # not one packet out
        [refusal] = result["refusals"]["refusals"]
        assert refusal["code"] == "no_recorder_in_allowed_regions" and "Nothing was recorded elsewhere" in \
            refusal["message"], refusal

        # one recording: part 1 (eu-1-a, lost with its host after its last sealed segment), part 2 (eu-1-b, the
        # same), gaps recorded as gaps from where the sealed media ends, eu-1 only
        [recording] = result["recordings"]
        parts, gaps = recording["parts"], recording["gaps"]
        out.append(f"recording {recording['id']}: parts {parts}\n  gaps {gaps}")
        assert recording["regions"] == ["eu-1"] and recording["ended_at"] is not None, recording
        assert [(p["part"], p["recorder"], p["region"], p["lost"]) for p in parts] == \
            [(1, "pool-eu-1-a", "eu-1", True), (2, "pool-eu-1-b", "eu-1", True)], parts
        first, second = gaps
        assert (first["recorder"], first["replaced_by"], first["region"]) == ("pool-eu-1-a", "pool-eu-1-b", "eu-1")
        for part, gap in zip(parts, gaps, strict=True):  # the gap starts at the last sealed segment's end
            assert part["segments"] and gap["from_ms"] == part["segments"][-1]["to_ms"] == part["to_ms"] \
                > part["from_ms"], (part, gap)
        assert first["to_ms"] == parts[1]["from_ms"], (parts, gaps)
        assert (second["recorder"], second["replaced_by"]) == ("pool-eu-1-b", None), second
        assert second["to_ms"] >= second["from_ms"], second
        # eu-1-b's own timeline said so at its first frame: the gap the archive holds
        # (a replacement's line; the others are a track's own freezes, noted as each segment's file closes)
        [line] = [e for e in acted["kill_b"]["timeline"] if e["kind"] == "gap" and e.get("reason") == "recorder replaced"]
        assert (line["from_ms"], line["to_ms"], line["recorder"], line["replaced_by"], line["part"]) == \
            (first["from_ms"], first["to_ms"], "pool-eu-1-a", "pool-eu-1-b", 2), (line, first)
        assert not [e for e in acted["kill_a"]["timeline"] if e["kind"] == "gap" and e.get("reason") == "recorder replaced"]
        exported = result["export"]
        assert exported["regions"] == ["eu-1"] and len(exported["recording"]["gaps"]) == 2, exported

        # 4. us-1: never the job, never a packet of the meeting
        meeting_bpf = " or ".join(["udp", *(f"host {addr[n]}" for n in ("clients", "eu-1", "eu-1-a", "eu-1-b"))])
        counts = {n: {"meeting": c.count(meeting_bpf), "udp": c.count("udp"), "all": c.count(),
                      "control": c.count(f"tcp port {CP_PORT}")} for n, c in captures.items()}
        for n, c in counts.items():
            out.append(f"  {n:<7} link: {c['meeting']:>6} meeting packets ({c['udp']} UDP), {c['control']} "
                       f"to/from the control plane, of {c['all']} captured")
        assert counts["us-1"]["meeting"] == 0 and counts["us-1"]["udp"] == 0, counts
        assert counts["us-1"]["control"] > 0, counts  # its own announcements, all along
        for n in ("eu-1", "eu-1-a", "eu-1-b"):  # the contrast: the EU links carried the meeting's media
            assert counts[n]["udp"] > 100, counts
        wire = (tmp_path / "us-1.pcap").read_bytes()
        assert b"pool-us-1" in wire and b'"region":"us-1"' in wire  # the payloads are there, in the clear
        audit_verify, records = cl.audit_export(seeded, TENANT, tmp_path / f"{TENANT}-audit.jsonl")
        jobs = [r["data"]["job"] for r in records if r["kind"] == "recording.recorder_launched"]
        for secret_word in (link["room"], link["link"], *jobs):
            assert secret_word.encode() not in wire, f"{secret_word} crossed us-1's link"
        assert "job " not in pools["pool-us-1"].output() and _files(workdirs["pool-us-1"]) == {}
        assert pools["pool-us-1"].alive(), pools["pool-us-1"].tail()  # announcing to the end

        # the tenant's audit chain verifies and says where the recorders ran
        out.append(f"audit verify: {audit_verify.stdout.strip() or audit_verify.stderr.strip()}")
        assert audit_verify.returncode == 0 and audit_verify.stdout.startswith("OK"), audit_verify.stderr
        launched = [(r["data"]["pool"], r["data"]["region"], r["data"]["generation"]) for r in records
                    if r["kind"] == "recording.recorder_launched"]
        assert launched == [("pool-eu-1-a", "eu-1", 1), ("pool-eu-1-b", "eu-1", 2)], launched
        moved = [r["data"] for r in records if r["kind"] == "recording.recorder_moved"]
        assert [(m["recorder"], m["region"], m["previous"]) for m in moved] == [("pool-eu-1-b", "eu-1", "pool-eu-1-a")]
        kinds = [r["kind"] for r in records]
        assert "recording.gap_closed" in kinds and kinds.count("recording.continuation_refused") == 1, kinds
        assert "recording.recorder_refused" in kinds, kinds
        assert not [r for r in records if "us-1" in json.dumps(r.get("data", {})) and r["kind"].startswith("recording")]
    except BaseException:
        print(procs.logs())
        raise
    finally:
        for c in captures.values():
            c.stop()
        procs.stop_all()
        print("\n".join(out))
        print(json.dumps({k: {**v, "timeline": len(v.get("timeline", []))} for k, v in acted.items()}))
