"""Issue 15's recorder pool in real browsers, run by tests/browser/driver.py inside the loopback-only namespace
(tests/recording/test_recorder_pool_browser.py starts the world: tests/recording/pool_stack.py, and a us-1 pool that
ACME's meetings must never get). Nobody starts a recorder page by hand here: the eu-1 pool process does, when the
control plane gives it a job.

1. `required`: A and B join and wait, decoding nothing, their indicators saying recording could not start (only a
   us-1 pool announces); only then the eu-1 pool starts; its recorder joins by itself, both decode and show
   "● REC". Then the recorder's Chromium is killed mid-meeting: the pool restarts it and the new recorder continues
   the SAME recording (a second part, the gap recorded); both leave, the job is dismissed and the recording is
   sealed into the archive, exported and verified offline.
2. `allowed`: the host and Bob meet, nobody records; the host's Start launches the recorder, Stop dismisses it and
   that recording is sealed too.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from playwright.sync_api import Playwright

from tests.browser.driver import Participant, log, poll
from tests.browser.recording_scenarios import INDICATOR_JS, decoded, views
from tests.support.processes import descendants

if TYPE_CHECKING:
    from recording.package import Verified

WORDS = {"starting": "Recording starting…", "live": "● REC", "refused": "Recording could not start"}


def _api(cfg: dict[str, Any], method: str, path: str, body: dict[str, Any] | None = None,
         key: str | None = None) -> Any:
    req = urllib.request.Request(cfg["control_url"] + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {key}"} if key else {})})
    with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - loopback inside the namespace
        return json.loads(r.read())


def _join(p: Participant, cfg: dict[str, Any], link: dict[str, str], name: str, host: bool = False,
          recorder_key: str | None = None) -> None:
    """A person joins as people do on the production page: the meeting link (the secret, the tenant's recorder
    public key where the link carries one, and the host key, in the fragment), their name, the Join button."""
    fragment = f"k={link['secret']}" + (f"&r={recorder_key}" if recorder_key else "") + \
        (f"&h={link['host_key']}" if host else "")
    p.open(f"{cfg['control_url']}/j/{link['link']}?{urlencode({'name': name, 'vw': '320', 'vh': '240'})}#{fragment}")
    assert p.page is not None
    # polled from here, not with wait_for_function: its polling evaluates a string, which the production page's
    # CSP (script-src 'self', no 'unsafe-eval') refuses whenever the first check is not already true
    page = p.page
    poll(lambda: page.evaluate("() => !!(window.castellanApp && window.castellanApp.info !== null)"), bool, 30)
    assert p.page.evaluate("window.castellanApp.development") is False  # a production page
    p.page.click("#join-button")
    p.page.wait_for_selector("#meeting-view:not([hidden])", timeout=30000)


def _recordings(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    return _api(cfg, "GET", "/v1/tenants/acme/recordings", key=cfg["operator_key"])["recordings"]  # type: ignore[no-any-return]


def _sealed(cfg: dict[str, Any], room: str) -> list[dict[str, Any]]:
    """Finished recordings of `room` with media in them."""
    return [r for r in _recordings(cfg) if r["meeting"] == room and r["ended_at"] is not None
            and any(f["kind"] in ("video", "audio") and f["size"] > 0 for f in r["files"])]


def _kill_recorder_browser(pool_pid: int) -> int:
    """SIGKILLs the pool's recorder Chromium (its browser process, not a renderer): the recorder dies mid-meeting."""
    for pid in descendants(pool_pid):
        try:
            cmd = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and b"chrom" in Path(cmd[0].decode(errors="replace")).name.encode() \
                and not any(a.startswith(b"--type=") for a in cmd):
            os.kill(pid, signal.SIGKILL)
            return pid
    raise AssertionError("the pool runs no recorder Chromium")


def _decoded_frames(package: Path) -> dict[str, int]:
    """Every video file of the package, decoded on its own with av: each sealed segment plays by itself."""
    import av

    out = {}
    for f in sorted(package.glob("*video*.webm")):
        with av.open(str(f)) as c:
            out[f.name] = sum(1 for _ in c.decode(video=0))
    return out


def export_verified(cfg: dict[str, Any], rec_id: str, dest: Path, tenant: str = "acme") -> Verified:
    """The admin's export (the signed package, a tar, unpacked into `dest`), verified offline with the deployment's
    audit key."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from recording.package import verify

    auth = {"Authorization": f"Bearer {cfg['operator_key']}"}
    req = urllib.request.Request(f"{cfg['control_url']}/v1/tenants/{tenant}/recordings/{rec_id}/export",
                                 headers=auth)
    with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310 - loopback inside the namespace
        body = r.read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        tar.extractall(dest, filter="data")
    req = urllib.request.Request(cfg["control_url"] + "/v1/audit/public-key", headers=auth)
    with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - loopback inside the namespace
        key = load_pem_public_key(r.read())
    return verify(dest / rec_id, [key])  # type: ignore[list-item]


def _export_and_verify(cfg: dict[str, Any], rec_id: str, dest: Path) -> dict[str, Any]:
    """The verified export, every video file decoded, and what part 2's timeline says of the gap."""
    v = export_verified(cfg, rec_id, dest)
    # part 2's timeline: its slices, one per sealed segment (docs/recording.md, "Segments"), in order
    timeline = [json.loads(x) for f in sorted((dest / rec_id).glob("part2-timeline*.jsonl"))
                for x in f.read_text().splitlines() if x]
    return {"files": v.files, "recording": v.manifest["recording"], "regions": v.manifest["regions"],
            "video_frames": _decoded_frames(dest / rec_id),
            "part2_gap_lines": [e for e in timeline if e.get("kind") == "gap" and e.get("part") == 2],
            "part2_tracks_from": min((int(e["t"]) for e in timeline if e.get("kind") == "track"), default=None)}


def _roster(p: Participant) -> list[str]:
    assert p.page is not None
    return p.page.evaluate("() => { const e = window.castellanApp.e2ee; "  # type: ignore[no-any-return]
                           "return e ? e.roster().map((m) => m.name).sort() : []; }")


def leave_all(parts: dict[str, Participant]) -> None:
    """Everyone leaves as the page's Leave does, and their browsers close; `parts` is emptied."""
    for p in parts.values():
        assert p.page is not None
        p.page.evaluate("async () => { await window.castellanApp.session.leave(); }")
        p.close()
    parts.clear()


def _close(parts: dict[str, Participant], pool: subprocess.Popen[bytes] | None, result: dict[str, Any]) -> None:
    """Whatever is still open when a scenario ends (or fails): the browsers, then the pool, whose exit code (or
    "killed", when it does not stop within 30 s of SIGTERM) goes into `result["pool_exit"]`."""
    for p in parts.values():
        p.close()
    if pool is not None:
        pool.terminate()
        try:
            result["pool_exit"] = pool.wait(30)
        except subprocess.TimeoutExpired:
            pool.kill()
            result["pool_exit"] = "killed"


def recorder_pool(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    console: list[str] = []
    result["console"] = console
    links = cfg["links"]
    pool: subprocess.Popen[bytes] | None = None
    parts: dict[str, Participant] = {}
    try:
        # 1. required: nobody's media until the pool's recorder is in
        req_room = links["required"]["room"]
        parts = {k: Participant(pw, cfg, k, console) for k in ("A", "B")}
        for k, p in parts.items():
            _join(p, cfg, links["required"], {"A": "Alice", "B": "Bob"}[k])
        poll(lambda: views(parts), lambda x: all(len(v["roster"]) == 2 and v["waiting"] for v in x.values()), 90)
        time.sleep(float(cfg.get("quiet", 6)))  # a us-1 pool is announcing all along: it must not be given this
        result["before"] = views(parts)
        result["refusals"] = _api(cfg, "GET", "/v1/tenants/acme/recorder-refusals", key=cfg["operator_key"])
        ind = lambda: {k: p.page.evaluate(INDICATOR_JS) for k, p in parts.items()}  # noqa: E731
        # the node read the control plane's refusal from the registry: every page says so
        result["refused_indicators"] = poll(ind, lambda x: all(v == WORDS["refused"] for v in x.values()), 30)
        log("both wait; starting the eu-1 pool")
        pool = subprocess.Popen(cfg["pool_argv"], stdout=open(cfg["pool_log"], "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115
        result["after"] = poll(lambda: views(parts), lambda x: all(n > 30 for n in decoded(x).values())
                               and not any(v["waiting"] for v in x.values()), 150)
        result["live_indicators"] = poll(ind, lambda x: all(v == WORDS["live"] for v in x.values()), 30)
        log("decoding with the pool's recorder in", decoded(result["after"]))
        time.sleep(float(cfg.get("record_seconds", 6)))
        result["killed"] = _kill_recorder_browser(pool.pid)
        log("killed the recorder's Chromium", result["killed"])
        # the meeting is held again (required), then the pool's new recorder continues: everyone decodes again
        poll(lambda: views(parts), lambda x: all(v["waiting"] for v in x.values()), 60)
        base = decoded(views(parts))
        result["continued"] = poll(lambda: views(parts), lambda x: all(n > base[k] + 30 for k, n in decoded(x).items())
                                   and not any(v["waiting"] for v in x.values()), 150)
        result["live_again"] = poll(ind, lambda x: all(v == WORDS["live"] for v in x.values()), 30)
        time.sleep(float(cfg.get("record_seconds", 6)))
        leave_all(parts)  # the meeting ends: both leave
        result["required_sealed"] = poll(lambda: _sealed(cfg, req_room), bool, 90)
        log("required meeting's recording sealed")
        [sealed] = result["required_sealed"]
        result["required_export"] = _export_and_verify(cfg, sealed["id"], Path(cfg["pool_log"]).parent / "export")

        # 2. allowed: the host's Start launches the recorder, Stop dismisses it
        al_room = links["allowed"]["room"]
        parts = {"H": Participant(pw, cfg, "H", console), "B": Participant(pw, cfg, "B2", console)}
        _join(parts["H"], cfg, links["allowed"], "Hosta", host=True)
        _join(parts["B"], cfg, links["allowed"], "Bob")
        indicators = lambda: {k: p.page.evaluate(INDICATOR_JS) for k, p in parts.items()}  # noqa: E731
        poll(lambda: {k: _roster(p) for k, p in parts.items()}, lambda x: all(len(v) == 2 for v in x.values()), 90)
        result["allowed_before"] = {"roster": {k: _roster(p) for k, p in parts.items()}, "indicators": indicators()}
        h = parts["H"].page
        assert h is not None
        h.click("#btn-people")
        h.wait_for_selector("#people:not([hidden])", timeout=30000)
        h.click("#btn-record")
        result["allowed_started"] = poll(lambda: {k: _roster(p) for k, p in parts.items()},
                                         lambda x: all("ACME archive" in v for v in x.values()), 120)
        # the roster shows the recorder as it joins; the indicator turns "● REC" once the node has it live (its tap
        # starts after the node confirms the recorder credential): read as it settles, as the `required` part does
        result["allowed_indicators"] = poll(indicators, lambda x: all(v == WORDS["live"] for v in x.values()), 30)
        time.sleep(float(cfg.get("record_seconds", 6)))  # let it record some media
        h.click("#btn-record")
        result["allowed_stopped"] = poll(lambda: {k: _roster(p) for k, p in parts.items()},
                                         lambda x: all("ACME archive" not in v for v in x.values()), 60)
        result["allowed_sealed"] = poll(lambda: _sealed(cfg, al_room), bool, 60)
        log("allowed meeting's recording sealed after Stop")
        result["recordings"] = _recordings(cfg)
    finally:
        _close(parts, pool, result)


HANDOVER_JS = """() => { const m = window.castellanApp.e2ee.member;
  return { sent: m.counts.handovers_sent, refused: m.counts.refused_key_packages, last: m.lastRefusal }; }"""


def recorder_handover(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    """docs/recording.md, "Handing the link secret to the recorder": the pool has the tenant's recorder key and no
    link secret. A and B join a `required` meeting from links carrying `r`; the pool's recorder page, attested by
    its pool, is handed the link's secrets by the committing member, joins the group, and the meeting is recorded
    and sealed with media."""
    console: list[str] = []
    result["console"] = console
    link = cfg["links"]["required"]
    pool: subprocess.Popen[bytes] | None = None
    parts: dict[str, Participant] = {}
    try:
        parts = {k: Participant(pw, cfg, k, console) for k in ("A", "B")}
        for k, p in parts.items():
            _join(p, cfg, link, {"A": "Alice", "B": "Bob"}[k], recorder_key=cfg["recorder_public_key"])
        poll(lambda: views(parts), lambda x: all(len(v["roster"]) == 2 and v["waiting"] for v in x.values()), 90)
        pool = subprocess.Popen(cfg["pool_argv"], stdout=open(cfg["pool_log"], "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115
        result["after"] = poll(lambda: views(parts), lambda x: all(n > 30 for n in decoded(x).values())
                               and not any(v["waiting"] for v in x.values()), 150)
        ind = lambda: {k: p.page.evaluate(INDICATOR_JS) for k, p in parts.items()}  # noqa: E731
        result["live_indicators"] = poll(ind, lambda x: all(v == WORDS["live"] for v in x.values()), 30)
        result["handovers"] = {k: p.page.evaluate(HANDOVER_JS) for k, p in parts.items()}
        log("recorded through a handover", result["handovers"])
        time.sleep(float(cfg.get("record_seconds", 6)))
        leave_all(parts)
        result["sealed"] = poll(lambda: _sealed(cfg, link["room"]), bool, 90)
    finally:
        _close(parts, pool, result)


SCENARIOS = {"recorder_pool": recorder_pool, "recorder_handover": recorder_handover}
