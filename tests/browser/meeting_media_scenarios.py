"""Issue 16's short media scenario for tests/browser/driver.py (`driver.py meeting_media CONFIG`): a desktop and a
phone participant in one meeting from a real link (control plane and node in the namespace). The desktop sees the
phone's camera: decoded frames that are not black, and a tile on screen that is not black. The phone turns its
camera off and then both resumes (the socket drops) and rejoins (the node refuses the resume): each time the
Camera button still works, and the desktop decodes the phone's camera again once it is back on."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, Playwright

from tests.browser.driver import launch, log, wait_http, wait_js
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


SCENARIOS = {"meeting_media": meeting_media}
