"""Issue 15's browser scenario, run by tests/browser/driver.py inside the loopback-only namespace: a meeting whose
signed policy is `required` (sfu/recording.py). Two E2EE participants see each other's media only while the
recorder (its credential says role `recorder`; a page without camera or microphone) is in; each page shows
"waiting for the recorder" meanwhile. Returns its evidence in `result`; tests/recording/test_required_browser.py
asserts on it."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import Playwright

from tests.browser.driver import Participant, client_url, log, poll

VIEW_JS = """async () => {
  const a = window.castellanApp, e = a.e2ee, s = a.session;
  const stats = await window.castellanStats();
  const wait = document.getElementById('recorder-wait');
  const ws = e && e.workerStats ? e.workerStats : null;
  return {
    participant: s && s.me ? s.me.participant : null,
    roster: e ? e.roster().map((m) => m.name).sort() : [],
    recording: a.recording,
    waiting: !!wait && !wait.hidden, waitText: wait ? wait.textContent : '',
    indicator: (document.getElementById('recording-indicator') || {}).textContent || '',
    video: stats.video,
    people: [...document.querySelectorAll('#people-list li, #members-list li')].map((l) => l.textContent),
  };
}"""


def view(p: Participant) -> dict[str, Any]:
    assert p.page is not None
    return p.page.evaluate(VIEW_JS)  # type: ignore[no-any-return]


def views(parts: dict[str, Participant]) -> dict[str, dict[str, Any]]:
    return {k: view(p) for k, p in parts.items()}


def decoded(x: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Frames each page decoded from the other ("A" from "B", "B" from "A")."""
    ids = {k: v["participant"] for k, v in x.items()}
    return {k: sum(v["framesDecoded"] for v in x[k]["video"] if v.get("participant") == ids[o])
            for k in x for o in x if o != k}


def recording_required(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    console: list[str] = []
    result["console"] = console
    parts = {k: Participant(pw, cfg, k, console) for k in ("A", "B")}
    rec = Participant(pw, cfg, "REC", console, drop=("--use-fake-ui-for-media-stream",))  # publishes nothing
    try:
        for k, p in parts.items():
            p.open(client_url(cfg, cfg["tokens"][k], {"A": "Alice", "B": "Bob"}[k], cfg["secret"]))
        # both in one group (E2EE ready: media would flow now in any other meeting), both told to wait
        poll(lambda: views(parts), lambda x: all(len(v["roster"]) == 2 and v["waiting"] for v in x.values()), 60)
        log("both in the group, waiting for the recorder")
        time.sleep(float(cfg.get("quiet", 8)))
        result["before"] = views(parts)
        rec.open(client_url(cfg, cfg["tokens"]["REC"], "ACME archive", cfg["secret"]))
        after = poll(lambda: views(parts), lambda x: all(n > 30 for n in decoded(x).values())
                     and not any(v["waiting"] for v in x.values()), 120)
        result["after"] = after
        result["recorder"] = view(rec)
        log("decoding with the recorder in", decoded(after))
        rec.close()  # the recorder dies (its browser is gone)
        result["after_death"] = poll(lambda: views(parts), lambda x: all(v["waiting"] for v in x.values()), 30)
        time.sleep(2)  # what was on the wire lands
        settled = decoded(views(parts))
        time.sleep(float(cfg.get("quiet", 8)))
        result["frames_after_death"] = [settled, decoded(views(parts))]
    finally:
        for p in (*parts.values(), rec):
            p.close()


INDICATOR_JS = """() => { const el = document.getElementById('recording-indicator');
  return el && !el.hidden ? el.textContent : ''; }"""


def recording_host(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    """Under "allowed": the host clicks Start recording, then Stop; each page's indicator follows what the node says
    is happening (no recorder joins here: "Recording starting…", never "● REC")."""
    console: list[str] = []
    result["console"] = console
    parts = {k: Participant(pw, cfg, k, console) for k in ("H", "B")}
    try:
        for k, p in parts.items():
            p.open(client_url(cfg, cfg["tokens"][k], {"H": "Hosta", "B": "Bob"}[k], cfg["secret"]))
        h, b = parts["H"].page, parts["B"].page
        assert h is not None and b is not None
        indicators = lambda: {k: p.page.evaluate(INDICATOR_JS) for k, p in parts.items()}  # noqa: E731
        result["before"] = poll(indicators, lambda x: all(x.values()), 60)
        result["bob_sees_button"] = b.evaluate("!document.getElementById('host-tools').hidden")
        # the People button keeps its children across the once-a-second refresh: replaced under the pointer
        # between mousedown and mouseup, a click on it was lost now and then (#btn-record then never showed)
        h.evaluate("window.__peopleChild = document.getElementById('btn-people').firstChild")
        time.sleep(2.5)
        result["people_button_stable"] = h.evaluate("!!window.__peopleChild && window.__peopleChild.isConnected")
        h.click("#btn-people")
        h.wait_for_selector("#people:not([hidden])", timeout=30000)
        h.click("#btn-record")
        # no recorder pool in this world: recording is on but nobody records, and no page says "● REC"
        result["started"] = poll(indicators, lambda x: all(v == "Recording starting…" for v in x.values()), 30)
        result["button_started"] = h.inner_text("#btn-record")
        h.click("#btn-record")
        result["stopped"] = poll(indicators, lambda x: all(v == "● may be recorded" for v in x.values()), 30)
        result["button_stopped"] = h.inner_text("#btn-record")
    finally:
        for p in parts.values():
            p.close()


SCENARIOS = {"recording_required": recording_required, "recording_host": recording_host}
