"""Issue 15, eu-1's recorder pools killed mid-meeting, run by tests/browser/driver.py inside the participants'
namespace of tests/cluster/test_recorder_pool_regions.py (which starts the control plane, the node, the pools and
the captures, and kills the pools when this scenario reaches a checkpoint).

A `required` meeting of two E2EE participants in Chromium: they decode each other once pool eu-1-a's recorder is
in; eu-1-a dies (the test SIGKILLs it), the meeting is held, eu-1-b's recorder continues and they decode again;
eu-1-b dies as well: the meeting is held from then on — nobody decodes anything, every page says recording could
not start — while a us-1 pool announces all along. The participants leave; the recording is fetched, exported
and verified offline. Everything it saw goes into `result`."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from playwright.sync_api import Playwright

from tests.browser.driver import Participant, log, poll
from tests.browser.pool_scenarios import WORDS, _api, _recordings, export_verified, leave_all
from tests.browser.recording_scenarios import INDICATOR_JS, decoded, views
from tests.support.waiting import wait_until


def checkpoint(cfg: dict[str, Any], name: str, timeout: float = 90) -> None:
    """Tells the test that `name` is reached and waits until it has acted (its `<name>.done` file)."""
    d = Path(cfg["checkpoints"])
    (d / f"{name}.reached").write_text(str(time.time()))
    assert wait_until(lambda: (d / f"{name}.done").exists(), timeout, 0.1), f"the test did not act at {name}"
    log("checkpoint", name, "passed")


def _page(cfg: dict[str, Any], name: str) -> str:
    link = cfg["link"]
    a = _api(cfg, "POST", "/v1/join", {"link": link["link"], "name": name})
    q = {"ws": a["ws_url"], "token": a["token"], "name": name, "autojoin": "1", "vw": "320", "vh": "240"}
    # the page is the development build served on this namespace's loopback (a secure context for E2EE)
    return f"{cfg['client_url']}/static/join.html?{urlencode(q)}#k={link['secret']}"


def node_held(cfg: dict[str, Any]) -> dict[str, float]:
    """The node's own word: rooms held for their recorder, the packets it dropped while holding (none when the
    browsers hold their media too), the packets it forwarded to subscribers."""
    with urllib.request.urlopen(cfg["node_url"] + "/metrics", timeout=5) as r:  # noqa: S310 - in the namespaces
        text = r.read().decode()
    out = {"rooms_held": 0.0, "dropped_held": 0.0, "forwarded": 0.0}
    for line in text.splitlines():
        if line.startswith("castellan_rooms_held_for_recorder"):
            out["rooms_held"] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("castellan_dropped_packets_total") and 'reason="recording_held"' in line:
            out["dropped_held"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("castellan_forwarded_packets_total"):
            out["forwarded"] += float(line.rsplit(" ", 1)[1])
    return out


def pool_failover(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    console: list[str] = []
    result["console"] = console
    parts: dict[str, Participant] = {}
    indicators = lambda: {k: p.page.evaluate(INDICATOR_JS) for k, p in parts.items()}  # noqa: E731
    try:
        parts = {k: Participant(pw, cfg, k, console) for k in ("A", "B")}
        for k, p in parts.items():
            p.open(_page(cfg, {"A": "Alice", "B": "Bob"}[k]))
        # 1. eu-1-a's recorder joins by itself: both decode, both pages say "● REC"
        result["first"] = poll(lambda: views(parts), lambda x: all(n > 30 for n in decoded(x).values())
                               and not any(v["waiting"] for v in x.values()), 150)
        result["first_indicators"] = poll(indicators, lambda x: all(v == WORDS["live"] for v in x.values()), 30)
        log("recorded by eu-1-a", decoded(result["first"]))
        time.sleep(float(cfg["record_seconds"]))
        checkpoint(cfg, "kill_a")  # the test SIGKILLs pool eu-1-a and everything it started
        # 2. held (required), until eu-1-b's recorder is in; then both decode again
        result["held_a"] = poll(lambda: views(parts), lambda x: all(v["waiting"] for v in x.values()), 30)
        base = decoded(views(parts))
        result["continued"] = poll(lambda: views(parts), lambda x: all(n > base[k] + 30 for k, n in decoded(x).items())
                                   and not any(v["waiting"] for v in x.values()), 120)
        result["continued_base"] = base
        result["continued_indicators"] = poll(indicators, lambda x: all(v == WORDS["live"] for v in x.values()), 30)
        log("continued by eu-1-b", decoded(result["continued"]))
        time.sleep(float(cfg["record_seconds"]))
        checkpoint(cfg, "kill_b")  # the test SIGKILLs pool eu-1-b as well
        # 3. no recorder anywhere it may run: held from now on, and every page says recording could not start
        result["held_b"] = poll(lambda: views(parts), lambda x: all(v["waiting"] for v in x.values()), 30)
        result["refused_indicators"] = poll(indicators, lambda x: all(v == WORDS["refused"] for v in x.values()), 45)
        time.sleep(2)  # what was on the wire when the hold began lands
        settled, node_before = decoded(views(parts)), node_held(cfg)
        time.sleep(float(cfg["quiet"]))  # the us-1 pool keeps announcing: it must not be given this meeting
        after = views(parts)
        result["held_frames"] = [settled, decoded(after)]
        result["held_waiting"] = {k: v["waiting"] for k, v in after.items()}
        result["held_node"] = [node_before, node_held(cfg)]
        result["refusals"] = _api(cfg, "GET", f"/v1/tenants/{cfg['tenant']}/recorder-refusals",
                                  key=cfg["operator_key"])
        leave_all(parts)  # the meeting ends
        room = cfg["link"]["room"]
        mine = lambda: [r for r in _recordings(cfg) if r["meeting"] == room]  # noqa: E731
        result["recordings"] = poll(mine, lambda x: bool(x) and all(r["ended_at"] is not None for r in x), 30)
        log("recordings", json.dumps(result["recordings"])[:400])
        if len(result["recordings"]) == 1:
            rec_id = result["recordings"][0]["id"]
            v = export_verified(cfg, rec_id, Path(cfg["checkpoints"]) / "export", cfg["tenant"])
            result["export"] = {"files": v.files, "recording": v.manifest["recording"], "regions": v.manifest["regions"]}
    finally:
        for p in parts.values():
            p.close()


SCENARIOS = {"pool_failover": pool_failover}
