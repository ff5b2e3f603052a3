"""Issue 16's short media scenario for tests/browser/driver.py (`driver.py meeting_media CONFIG`): a desktop and a
phone participant in one meeting from a real link (control plane and node in the namespace). The desktop sees the
phone's camera: decoded frames that are not black, and a tile on screen that is not black. The phone turns its
camera off and then both resumes (the socket drops) and rejoins (the node refuses the resume): each time the
Camera button still works, and the desktop decodes the phone's camera again once it is back on. And the camera's
simulcast as the meeting client sends it (`meeting_simulcast`, tests/browser/test_meeting_simulcast.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, Playwright

from tests.browser.driver import Participant, client_url, launch, log, wait_http, wait_js
from tests.browser.meeting_scenarios import Meeting, join, poll, stats
from tests.browser.picture import seen


def camera_button(page: Page) -> dict[str, Any]:
    return page.evaluate("""() => { const b = document.getElementById('btn-cam'); return {disabled: b.disabled,
        label: b.textContent.trim(), pressed: b.getAttribute('aria-pressed'), camOff: window.castellanApp.camOff}; }""")


def camera_back(desktop: Page, phone: Page) -> dict[str, Any]:
    """The phone's Camera button after a resume or rejoin with the camera off; pressed: the desktop's view."""
    pid = poll(lambda: stats(phone), lambda x: x["participant"] is not None and x["signalling"] == "open",
               timeout=60)["participant"]
    poll(lambda: stats(desktop), lambda x: any(t["participant"] == pid for t in x["tiles"]), timeout=60)
    out: dict[str, Any] = {"participant": pid, "button": camera_button(phone)}
    if out["button"]["disabled"]:
        return out
    phone.click("#btn-cam")
    s = poll(lambda: stats(phone), lambda x: not x["camOff"] and x["localVideo"] == ["live"], timeout=45)
    out["after_press"] = {"camOff": s["camOff"], "local": s["localVideo"], "sender": s["cameraSender"],
                          "button": camera_button(phone)}
    out["desktop"] = seen(desktop, pid)
    return out


def meeting_media(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    wait_http(cfg["base_url"] + "/healthz")
    wait_http(cfg["http_url"] + "/healthz")
    link, secret = cfg["links"]["meeting"], cfg["secret"]
    browser = launch(pw, cfg)
    m = Meeting(browser, cfg, result)
    t: dict[str, Any] = result.setdefault("checks", {})
    try:
        d = m.page("D", link["link"], f"k={secret}")
        join(d, "Dana Desk", None)
        p = m.page("P", link["link"], f"k={secret}", phone=True)
        join(p, "Pat Phone", None)
        pid = poll(lambda: stats(p), lambda x: x["participant"] is not None, timeout=45)["participant"]
        did = poll(lambda: stats(d), lambda x: x["participant"] is not None, timeout=45)["participant"]
        poll(lambda: [stats(d), stats(p)], lambda xs: all(x["lockClass"].endswith("ok") for x in xs), timeout=90)
        t["phone_local"] = p.evaluate("""() => { const v = window.castellanApp.local.getVideoTracks()[0];
            return v ? v.getSettings() : null; }""")
        t["phone_at_desktop"] = seen(d, pid)
        t["desktop_at_phone"] = seen(p, did)
        m.shot(d, "media-desktop", axe=False)
        m.shot(p, "media-phone", axe=False)
        log("phone at desktop", t["phone_at_desktop"])

        # camera off, then the socket drops and the session resumes
        p.click("#btn-cam")
        poll(lambda: stats(p), lambda x: x["camOff"] and x["cameraSender"]["track"] is None, timeout=45)
        p.evaluate("window.castellanApp.session.ws.close()")
        wait_js(p, "window.castellanApp.session.log.some((l) => l.endsWith(' resumed'))", timeout=45000)
        t["resumed_camera_off"] = camera_back(d, p)
        log("resumed with camera off", t["resumed_camera_off"])

        # camera off, then the node refuses the resume (its session is gone): the page rejoins the meeting
        p.click("#btn-cam")
        poll(lambda: stats(p), lambda x: x["camOff"] and x["cameraSender"]["track"] is None, timeout=45)
        p.evaluate("""() => { const s = window.castellanApp.session; s.me.resume_secret = 'forgotten';
            s.ws.close(); }""")
        poll(lambda: stats(p), lambda x: x["participant"] not in (None, pid), timeout=90)
        t["rejoined_camera_off"] = camera_back(d, p)
        t["rejoined_mic"] = {"muted": stats(p)["micMuted"]}
        m.shot(p, "media-phone-rejoined", axe=False)
        log("rejoined with camera off", t["rejoined_camera_off"])
    finally:
        browser.close()



# the publisher's camera as it sends it: each encoding (rid, active, frames), and what its E2EE transform sealed
PUBLISHER_JS = """async () => { const s = await window.castellanStats();
  const enc = ((window.castellanApp.e2ee || {}).workerStats || {streams: []}).streams.filter((x) => x.op === "encode" && x.kind === "video");
  return {encodings: s.cameraEncodings, outbound: s.outbound.filter((o) => o.kind === "video"),
    sealed: enc.map((x) => ({ok: x.ok, noKey: x.noKey, dropped: x.dropped, mime: x.mime})),
    log: window.castellanApp.session.log.filter((l) => /layers|publish/.test(l))}; }"""
# the subscriber's view of one participant's camera: decoded frames, size, the tile, and what its E2EE transform opened
SUBSCRIBER_JS = """async (pid) => { const s = await window.castellanStats();
  const v = s.video.find((x) => x.participant === pid) || {};
  const opened = ((window.castellanApp.e2ee || {}).workerStats || {streams: []}).streams.filter((x) => x.op === "decode" &&
    x.kind === "video" && x.participant === pid).map((x) => ({ok: x.ok, failed: x.failed, noKey: x.noKey,
    replayed: x.replayed, wrongSender: x.wrongSender, mime: x.mime}));
  const tile = [...window.castellanApp.tiles.values()].find((t) => t.participant === pid && t.videoTrack);
  return {frameWidth: v.frameWidth || 0, framesDecoded: v.framesDecoded || 0, framesDropped: v.framesDropped || 0,
    tile: tile ? [tile.video.clientWidth, tile.video.clientHeight] : null, viewports: s.viewports, opened,
    lock: s.e2ee && s.e2ee.state}; }"""


def active_rids(pub: dict[str, Any]) -> dict[str, bool]:
    return {e["rid"]: e["active"] for e in pub["encodings"]}


def meeting_simulcast(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    """The meeting client with E2EE on: a publisher's 1280x720 camera (simulcast, or VP9 SVC with cfg["codec"]
    vp9); a subscriber whose window makes its tile a thumbnail decodes the quarter layer, the publisher pauses what
    nobody takes; the subscriber's window grows, its tile is large, and it decodes the full layer — every frame
    through SFrame, none refused."""
    wait_http(cfg["base_url"] + "/static/join.html")
    wait_http(cfg["http_url"] + "/healthz")
    console: list[str] = result.setdefault("console", [])
    codec = cfg.get("codec")
    pub = Participant(pw, cfg, "P", console)
    sub = Participant(pw, cfg, "S", console)
    try:
        pub.open(client_url(cfg, cfg["tokens"]["P"], "Pia", cfg["secret"], codec=codec, size=(1280, 720)))
        sub.open(client_url(cfg, cfg["tokens"]["S"], "Sam", cfg["secret"], codec=codec))
        assert pub.page is not None and sub.page is not None
        sub.page.set_viewport_size({"width": 800, "height": 450})  # two tiles of ~290x180: thumbnails
        pid = poll(pub.stats, lambda x: x["participant"] is not None, 45)["participant"]

        def shown() -> dict[str, Any]:
            assert sub.page is not None
            return sub.page.evaluate(SUBSCRIBER_JS, pid)  # type: ignore[no-any-return]

        def sent() -> dict[str, Any]:
            assert pub.page is not None
            return pub.page.evaluate(PUBLISHER_JS)  # type: ignore[no-any-return]

        result["small"] = small = poll(shown, lambda v: v["framesDecoded"] > 30 and 0 < v["frameWidth"] <= 400, 60)
        log("small tile", small)
        if codec != "vp9":  # simulcast: the encodings nobody takes are paused (f: the subscriber is on q, h is kept warm)
            result["pub_small"] = poll(sent, lambda p: active_rids(p).get("f") is False, 30)
        else:
            result["pub_small"] = sent()
        log("publisher while small", result["pub_small"])
        sub.page.set_viewport_size({"width": 1600, "height": 1000})  # the tile grows past 400 px high
        result["large"] = large = poll(shown, lambda v: v["frameWidth"] >= 960, 60)
        log("large tile", large)
        time.sleep(3)
        result["after"] = shown()
        result["pub_large"] = sent()
        log("after", result["after"], "publisher", result["pub_large"])
        sub.shot(Path(cfg["artifacts"]), f"meeting-simulcast-{codec or 'vp8'}-large.png", result)
    finally:
        pub.close()
        sub.close()


SCENARIOS = {"meeting_media": meeting_media, "meeting_simulcast": meeting_simulcast}
