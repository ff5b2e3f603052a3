"""Issue 12's browser scenarios, run by tests/browser/driver.py inside the loopback-only namespace: MLS meetings
of real Chromium clients through the real node — churn, and a hostile node (tests/browser/hostile_node.py)
between the browsers and the node. Each returns its evidence in `result`; the tests assert on it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Playwright

from tests.browser.driver import Participant, client_url, log, poll, wait_http
from tests.browser.hostile_node import HostileNode, Link, Msg

PROXY_PORT = 7890

# what one page knows about its group, read from the E2EE object and from the DOM the user sees
STATE_JS = """async () => {
  const a = window.castellanApp, e = a.e2ee, s = a.session;
  const st = e ? e.status() : null;
  const stats = await window.castellanStats();
  const lock = document.getElementById('lock');
  return {
    participant: s && s.me ? s.me.participant : null,
    epoch: e ? e.epoch() : null,
    roster: e ? e.roster().map((m) => m.participant).sort() : [],
    names: e ? e.roster().map((m) => m.name) : [],
    warnings: e ? e.roster().filter((m) => m.warning).map((m) => [m.participant, m.warning]) : [],
    status: st,
    safety: e ? await e.safetyCode() : null,
    lockState: lock.dataset.state || null, lock: lock.textContent,
    tiles: [...document.querySelectorAll('#grid .tile:not(.self)')].map((t) => ({participant: t.dataset.participant,
      member: t.dataset.member, warning: t.dataset.warning, videoShown: !t.querySelector('video').hidden,
      hasMedia: !!t.querySelector('video').srcObject, problem: t.querySelector('.problem').hidden ? '' :
      t.querySelector('.problem').textContent})),
    members: [...document.querySelectorAll('#members-list li')].map((l) => l.dataset.participant).sort(),
    joining: [...document.querySelectorAll('#members-joining li')].map((l) => l.dataset.participant).sort(),
    safetyShown: document.getElementById('safety').textContent, safetyEpoch: a.safetyEpoch ?? null,
    video: stats.video, log: e ? e.log.slice(-40) : [], sessionLog: s ? s.log.slice(-20) : [],
  };
}"""


def state(p: Participant) -> dict[str, Any]:
    assert p.page is not None
    return p.page.evaluate(STATE_JS)  # type: ignore[no-any-return]


def states(parts: dict[str, Participant]) -> dict[str, dict[str, Any]]:
    return {k: state(p) for k, p in parts.items()}


def decoded_from(s: dict[str, Any], pid: str) -> int:
    return sum(v["framesDecoded"] for v in s["video"] if v.get("participant") == pid)


def agreed(x: dict[str, dict[str, Any]], n: int) -> bool:
    """Every page on one epoch with n members, the same safety code, green, and its list showing that roster."""
    epochs = {v["epoch"] for v in x.values()}
    codes = {v["safety"] for v in x.values()}
    return (len(epochs) == 1 and None not in epochs and len(codes) == 1 and None not in codes
            and all(len(v["roster"]) == n and v["members"] == v["roster"] and v["lockState"] == "green"
                    for v in x.values()))


def all_decoding(parts: dict[str, Participant], timeout: float, more_than: dict[str, int] | None = None
                 ) -> dict[str, dict[str, Any]]:
    """Until every page decodes video from every other page (beyond `more_than[k/o]` frames)."""
    base = more_than or {}

    def ok(x: dict[str, dict[str, Any]]) -> bool:
        ids = {k: v["participant"] for k, v in x.items()}
        return all(decoded_from(x[k], ids[o]) > base.get(f"{k}/{o}", 0) for k in x for o in x if o != k)

    return poll(lambda: states(parts), ok, timeout, 0.5)  # type: ignore[no-any-return]


def frame_counts(x: dict[str, dict[str, Any]]) -> dict[str, int]:
    ids = {k: v["participant"] for k, v in x.items()}
    return {f"{k}/{o}": decoded_from(x[k], ids[o]) for k in x for o in x if o != k}


def summary(x: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {k: {"participant": v["participant"], "epoch": v["epoch"], "roster": v["roster"], "safety": v["safety"], "lock": v["lockState"],
                "reason": (v["status"] or {}).get("reason")} for k, v in x.items()}


def _open(pw: Playwright, cfg: dict[str, Any], parts: dict[str, Participant], console: list[str], key: str,
          ws_url: str | None = None, secret: str | None = None) -> Participant:
    c = dict(cfg, ws_url=ws_url or cfg["ws_url"])
    p = parts[key] = Participant(pw, cfg, key, console)
    p.open(client_url(c, cfg["tokens"][key], key, secret or cfg["secret"]))
    return p


def _close(parts: dict[str, Participant], key: str) -> None:
    p = parts.pop(key)
    if p.page is not None:
        p.page.click("#btn-leave")
        time.sleep(0.3)
    p.close()


# ---------------------------------------------------------------------------------------------------- churn


def mls_churn(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    """Three participants join and leave in churn (A, B, C; C leaves; D joins; B leaves; E joins): after every
    change, every page is on one new epoch with the same safety code, shows exactly the roster, decodes the others'
    video and stays green."""
    wait_http(cfg["base_url"] + "/static/join.html")
    wait_http(cfg["http_url"] + "/healthz")
    console: list[str] = []
    result["console"] = console
    parts: dict[str, Participant] = {}
    steps: list[dict[str, Any]] = []
    result["steps"] = steps
    try:
        def settle(label: str, n: int) -> None:
            s = poll(lambda: states(parts), lambda x: agreed(x, n), 30, 0.5)
            before = frame_counts(s)
            s2 = all_decoding(parts, 20, before)
            steps.append({"step": label, "agreed": agreed(s, n), "summary": summary(s), "frames_before": before,
                          "frames_after": frame_counts(s2), "tiles": {k: v["tiles"] for k, v in s2.items()}})
            log(label, summary(s))

        _open(pw, cfg, parts, console, "A")
        time.sleep(1.5)
        _open(pw, cfg, parts, console, "B")
        settle("A+B", 2)
        _open(pw, cfg, parts, console, "C")
        settle("A+B+C", 3)
        _close(parts, "C")
        settle("C left", 2)
        _open(pw, cfg, parts, console, "D")
        settle("D joined", 3)
        _close(parts, "B")
        settle("B left", 2)
        _open(pw, cfg, parts, console, "E")
        settle("E joined", 3)
        parts["A"].shot(Path(cfg["artifacts"]), "mls-churn.png", result)
    finally:
        result["final"] = {k: {"log": v["log"], "sessionLog": v["sessionLog"]} for k, v in
                           (states(parts).items() if parts else [])}
        for p in parts.values():
            p.close()


SCENARIOS: dict[str, Callable[[Playwright, dict[str, Any], dict[str, Any]], None]] = {
    "mls_churn": mls_churn,
}
__all__ = ["SCENARIOS", "HostileNode", "Link", "Msg", "PROXY_PORT"]
