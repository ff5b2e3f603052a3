"""Playwright driver, run INSIDE the loopback-only namespace (tests/browser/netns.py): `driver.py SCENARIO CONFIG`.

Prints progress lines and, last, `RESULT {json}` for the test to assert on. Every wait is bounded.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, Playwright, sync_playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--headless=new",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
]


def log(*a: Any) -> None:
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def wait_http(url: str, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - loopback inside the namespace
                if r.status == 200:
                    return
        except Exception as e:  # noqa: BLE001
            last = e
        time.sleep(0.1)
    raise RuntimeError(f"{url} not up after {timeout} s: {last}")


def launch(pw: Playwright, cfg: dict[str, Any], extra: list[str] | None = None) -> Browser:
    return pw.chromium.launch(
        executable_path=cfg["chromium"], headless=True, args=CHROMIUM_ARGS + (extra or [])
    )


def open_page(
    browser: Browser, url: str, sink: list[str], tag: str, viewport: dict[str, int] | None = None
) -> Page:
    ctx = browser.new_context(viewport=viewport or {"width": 960, "height": 600})
    page = ctx.new_page()
    page.on("console", lambda m: sink.append(f"[{tag}] {m.type}: {m.text}"))
    page.on("pageerror", lambda e: sink.append(f"[{tag}] pageerror: {e}"))
    page.goto(url, wait_until="load", timeout=15000)
    return page


def poll(fn: Callable[[], Any], ok: Callable[[Any], bool], timeout: float, interval: float = 0.25) -> Any:
    end = time.monotonic() + timeout
    value = fn()
    while not ok(value) and time.monotonic() < end:
        time.sleep(interval)
        value = fn()
    return value


def frames(stats: dict[str, Any]) -> int:
    return sum(v.get("framesDecoded", 0) for v in stats.get("video", []))


def audio_packets(stats: dict[str, Any]) -> int:
    return sum(a.get("packetsReceived", 0) for a in stats.get("audio", []))


# ---------------------------------------------------------------------------------------------------- scenarios


def minimal_two(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    """Two Chromium instances join one room through the node on /dev/minimal; each decodes the other's video."""
    wait_http(cfg["http_url"] + "/healthz")
    art = Path(cfg["artifacts"])
    console: list[str] = []
    result["console"] = console
    browsers = [launch(pw, cfg), launch(pw, cfg)]
    result["browser_version"] = browsers[0].version
    pages = []
    for i, token in enumerate(cfg["tokens"]):
        url = f"{cfg['http_url']}/dev/minimal?ws={cfg['ws_url']}&token={token}"
        pages.append(open_page(browsers[i], url, console, f"p{i}"))
        log("opened page", i)

    def both() -> list[dict[str, Any]]:
        return [p.evaluate("window.castellanStats()") for p in pages]

    first = poll(both, lambda s: all(frames(x) > 0 for x in s), timeout=25)
    result["first"] = first
    log("first frames", [frames(x) for x in first])
    time.sleep(3)
    second = both()
    result["second"] = second
    log("after 3 s", [frames(x) for x in second], [audio_packets(x) for x in second])
    result["candidates"] = [
        p.evaluate(
            """async () => { const r = await window.castellan.pc.getStats(); const out = [];
               r.forEach(s => { if (s.type === 'local-candidate' || s.type === 'remote-candidate')
                 out.push(s.type + ' ' + s.address + ':' + s.port + ' ' + s.candidateType); }); return out; }"""
        )
        for p in pages
    ]
    result["status"] = [p.locator("#status").inner_text() for p in pages]
    for i, p in enumerate(pages):
        path = art / f"minimal-participant-{i + 1}.png"
        p.screenshot(path=str(path))
        result.setdefault("screenshots", []).append(str(path))
    for b in browsers:
        b.close()


SCENARIOS: dict[str, Callable[[Playwright, dict[str, Any], dict[str, Any]], None]] = {
    "minimal_two": minimal_two,
}


def main() -> int:
    scenario, cfg_path = sys.argv[1], sys.argv[2]
    cfg = json.loads(Path(cfg_path).read_text())
    result: dict[str, Any] = {"scenario": scenario}
    try:
        with sync_playwright() as pw:
            SCENARIOS[scenario](pw, cfg, result)
    except Exception:  # noqa: BLE001 - reported to the test, which fails with the traceback
        result["error"] = traceback.format_exc()
        log(result["error"])
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
