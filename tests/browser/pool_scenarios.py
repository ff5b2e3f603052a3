"""Issue 15's recorder pool in real browsers, run by tests/browser/driver.py inside the loopback-only namespace
(tests/recording/test_recorder_pool_browser.py starts the world: tests/recording/pool_stack.py, and a us-1 pool that
ACME's meetings must never get). Nobody starts a recorder page by hand here: the eu-1 pool process does, when the
control plane gives it a job.

1. `required`: A and B join and wait, decoding nothing; only then the eu-1 pool starts; its recorder joins by
   itself, both decode; both leave, the job is dismissed and the recording is sealed into the archive.
2. `allowed`: the host and Bob meet, nobody records; the host's Start launches the recorder, Stop dismisses it and
   that recording is sealed too.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from typing import Any
from urllib.parse import urlencode

from playwright.sync_api import Playwright

from tests.browser.driver import Participant, log, poll
from tests.browser.recording_scenarios import INDICATOR_JS, decoded, views


def _api(cfg: dict[str, Any], method: str, path: str, body: dict[str, Any] | None = None,
         key: str | None = None) -> Any:
    req = urllib.request.Request(cfg["control_url"] + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {key}"} if key else {})})
    with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - loopback inside the namespace
        return json.loads(r.read())


def _page_url(cfg: dict[str, Any], link: dict[str, str], name: str, host: bool = False) -> str:
    body = {"link": link["link"], "name": name, **({"host_key": link["host_key"]} if host else {})}
    a = _api(cfg, "POST", "/v1/join", body)
    q = {"ws": a["ws_url"], "token": a["token"], "name": name, "autojoin": "1", "vw": "320", "vh": "240"}
    return f"{cfg['control_url']}/static/join.html?{urlencode(q)}#k={link['secret']}"


def _recordings(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    return _api(cfg, "GET", "/v1/tenants/acme/recordings", key=cfg["operator_key"])["recordings"]  # type: ignore[no-any-return]


def _sealed(cfg: dict[str, Any], room: str) -> list[dict[str, Any]]:
    """Finished recordings of `room` with media in them."""
    return [r for r in _recordings(cfg) if r["meeting"] == room and r["ended_at"] is not None
            and any(f["kind"] in ("video", "audio") and f["size"] > 0 for f in r["files"])]


def _roster(p: Participant) -> list[str]:
    assert p.page is not None
    return p.page.evaluate("() => { const e = window.castellanApp.e2ee; "  # type: ignore[no-any-return]
                           "return e ? e.roster().map((m) => m.name).sort() : []; }")


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
            p.open(_page_url(cfg, links["required"], {"A": "Alice", "B": "Bob"}[k]))
        poll(lambda: views(parts), lambda x: all(len(v["roster"]) == 2 and v["waiting"] for v in x.values()), 90)
        time.sleep(float(cfg.get("quiet", 6)))  # a us-1 pool is announcing all along: it must not be given this
        result["before"] = views(parts)
        result["refusals"] = _api(cfg, "GET", "/v1/tenants/acme/recorder-refusals", key=cfg["operator_key"])
        log("both wait; starting the eu-1 pool")
        pool = subprocess.Popen(cfg["pool_argv"], stdout=open(cfg["pool_log"], "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115
        result["after"] = poll(lambda: views(parts), lambda x: all(n > 30 for n in decoded(x).values())
                               and not any(v["waiting"] for v in x.values()), 150)
        log("decoding with the pool's recorder in", decoded(result["after"]))
        for p in parts.values():  # the meeting ends: both leave
            assert p.page is not None
            p.page.evaluate("async () => { await window.castellanApp.session.leave(); }")
            p.close()
        parts = {}
        result["required_sealed"] = poll(lambda: _sealed(cfg, req_room), bool, 90)
        log("required meeting's recording sealed")

        # 2. allowed: the host's Start launches the recorder, Stop dismisses it
        al_room = links["allowed"]["room"]
        parts = {"H": Participant(pw, cfg, "H", console), "B": Participant(pw, cfg, "B2", console)}
        parts["H"].open(_page_url(cfg, links["allowed"], "Hosta", host=True))
        parts["B"].open(_page_url(cfg, links["allowed"], "Bob"))
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
        result["allowed_indicators"] = indicators()
        time.sleep(float(cfg.get("record_seconds", 6)))  # let it record some media
        h.click("#btn-record")
        result["allowed_stopped"] = poll(lambda: {k: _roster(p) for k, p in parts.items()},
                                         lambda x: all("ACME archive" not in v for v in x.values()), 60)
        result["allowed_sealed"] = poll(lambda: _sealed(cfg, al_room), bool, 60)
        log("allowed meeting's recording sealed after Stop")
        result["recordings"] = _recordings(cfg)
    finally:
        for p in parts.values():
            p.close()
        if pool is not None:
            pool.terminate()
            try:
                result["pool_exit"] = pool.wait(30)
            except subprocess.TimeoutExpired:
                pool.kill()
                result["pool_exit"] = "killed"


SCENARIOS = {"recorder_pool": recorder_pool}
