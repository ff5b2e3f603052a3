"""Issue 16's short media scenario for tests/browser/driver.py (`driver.py meeting_media CONFIG`): a desktop and a
phone participant in one meeting from a real link (control plane and node in the namespace). The desktop sees the
phone's camera: decoded frames that are not black, and a tile on screen that is not black. The phone turns its
camera off and then both resumes (the socket drops) and rejoins (the node refuses the resume): each time the
Camera button still works, and the desktop decodes the phone's camera again once it is back on."""

from __future__ import annotations

import base64
import time
from typing import Any

from playwright.sync_api import Page, Playwright

from tests.browser.driver import launch, log, wait_http, wait_js
from tests.browser.meeting_scenarios import Meeting, join, poll, received_from, stats

# the decoded picture of participant `pid`'s camera tile (its <video> drawn into a canvas), and where it is shown
PICTURE = """(pid) => {
  const tile = [...document.querySelectorAll('#grid .tile:not(.self)')].find((t) => t.dataset.participant === pid
    && !t.classList.contains('joining'));
  const v = tile && tile.querySelector('video');
  if (!v) return {found: false};
  const r = v.getBoundingClientRect();
  const out = {found: true, hidden: v.hidden, videoWidth: v.videoWidth, videoHeight: v.videoHeight,
    readyState: v.readyState, paused: v.paused, box: [r.x, r.y, r.width, r.height],
    tileBox: [tile.clientWidth, tile.clientHeight]};
  if (!v.videoWidth) return out;
  const c = document.createElement('canvas');
  c.width = 64; c.height = 48;
  const g = c.getContext('2d', {willReadFrequently: true});
  g.drawImage(v, 0, 0, c.width, c.height);
  return {...out, ...window.__lightness(g.getImageData(0, 0, c.width, c.height).data)};
}"""
# pixels' lightness: the mean luma and the share of pixels that are not dark (Chromium's fake camera: a green
# background with a moving pie; a black tile is all dark)
LIGHTNESS = """() => { window.__lightness = (d) => {
  let sum = 0, light = 0;
  for (let i = 0; i < d.length; i += 4) {
    const y = 0.2126 * d[i] + 0.7152 * d[i + 1] + 0.0722 * d[i + 2];
    sum += y;
    if (y > 48) light++;
  }
  const n = d.length / 4;
  return {meanLuma: Math.round(sum / n), lightShare: Math.round(100 * light / n) / 100};
}; }"""
# the same measure on a PNG screenshot of the tile (what a person sees, CSS included)
SCREEN = """async (b64) => {
  const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
  const img = await createImageBitmap(new Blob([bytes], {type: 'image/png'}));
  const c = document.createElement('canvas');
  c.width = img.width; c.height = img.height;
  const g = c.getContext('2d', {willReadFrequently: true});
  g.drawImage(img, 0, 0);
  return window.__lightness(g.getImageData(0, 0, c.width, c.height).data);
}"""


def picture(page: Page, pid: str) -> dict[str, Any]:
    """The decoded picture of `pid`'s camera at `page`, and a screenshot of its <video> on the page."""
    page.evaluate(LIGHTNESS)
    out: dict[str, Any] = page.evaluate(PICTURE, pid)
    if out.get("found") and not out.get("hidden") and out["box"][2] > 0 and out["box"][3] > 0:
        x, y, w, h = out["box"]
        png = page.screenshot(clip={"x": x, "y": y, "width": w, "height": h}, timeout=60000)
        out["screen"] = page.evaluate(SCREEN, base64.b64encode(png).decode())
    return out


def seen(page: Page, pid: str, timeout: float = 45) -> dict[str, Any]:
    """`pid`'s camera at `page` once decoding grows and the picture is light (or the last look after `timeout`)."""
    base = received_from(stats(page), pid, "framesDecoded")
    s = poll(lambda: stats(page), lambda x: received_from(x, pid, "framesDecoded") > base + 20, timeout=timeout)
    deadline = time.monotonic() + timeout
    pic = picture(page, pid)
    while time.monotonic() < deadline and not (pic.get("lightShare", 0) > 0.5 and
                                               pic.get("screen", {}).get("lightShare", 0) > 0.3):
        time.sleep(1.0)
        pic = picture(page, pid)
    return {"decoded": received_from(s, pid, "framesDecoded") - base, "frameWidth": received_from(s, pid, "frameWidth"),
            "frameHeight": received_from(s, pid, "frameHeight"), "picture": pic}


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


SCENARIOS = {"meeting_media": meeting_media}
