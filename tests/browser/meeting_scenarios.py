"""Issue 16's meeting scenario for tests/browser/driver.py (`driver.py meeting CONFIG`): one meeting from real
links on a real control plane and node, shared by every check (host, two participants, a phone), each check
reading the other side's view. Screenshots of every screen to artifacts/browser/meeting-*.png; axe-core (pinned
in signalling/vendor's lockfile, injected by CDP: the pages' CSP stays as served) on each screen."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, Playwright

from tests.browser.driver import frames, launch, log, wait_http, wait_js
from tests.browser.driver import poll as poll_fast
from tests.browser.picture import seen

AXE = Path(__file__).resolve().parents[2] / "signalling" / "vendor" / "node_modules" / "axe-core" / "axe.min.js"
AXE_RUN = """() => axe.run(document, {resultTypes: ["violations"]}).then((r) => r.violations.map((v) => ({
  id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,
  targets: v.nodes.slice(0, 4).map((n) => n.target.join(" "))})))"""
PHONE = {"width": 390, "height": 844}
NO_SCREEN_SHARE = "delete MediaDevices.prototype.getDisplayMedia;"  # as on phone browsers


class Meeting:
    """The scenario's pages, screenshots and accessibility results."""

    def __init__(self, browser: Browser, cfg: dict[str, Any], result: dict[str, Any]) -> None:
        self.browser = browser
        self.cfg = cfg
        self.result = result
        self.art = Path(cfg["artifacts"])
        self.console: list[str] = result.setdefault("console", [])
        self.axe: dict[str, list[dict[str, Any]]] = result.setdefault("axe", {})

    def page(self, tag: str, link: str, fragment: str, *, phone: bool = False, query: str = "vw=320&vh=240") -> Page:
        opts: dict[str, Any] = {"viewport": PHONE, "is_mobile": True, "has_touch": True} if phone else {
            "viewport": {"width": 1100, "height": 680}}
        ctx = self.browser.new_context(**opts)
        ctx.set_default_timeout(90000)  # bounds, not delays: a loaded machine is slow to click and draw
        if AXE.exists():  # the meeting test needs it (it skips without); shorter scenarios run no axe check
            ctx.add_init_script(path=str(AXE))
        if phone:
            ctx.add_init_script(NO_SCREEN_SHARE)
        page = ctx.new_page()
        page.on("console", lambda m: self.console.append(f"[{tag}] {m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"[{tag}] pageerror: {e}"))
        page.goto(f"{self.cfg['base_url']}/j/{link}?{query}#{fragment}", wait_until="load", timeout=120000)
        return page

    def shot(self, page: Page, name: str, axe: bool = True) -> None:
        """A screenshot; `axe`: and the accessibility check (once per kind of screen: it is CPU-heavy)."""
        started = time.monotonic()
        path = self.art / f"meeting-{name}.png"
        page.screenshot(path=str(path), timeout=120000)
        self.result.setdefault("screenshots", []).append(str(path))
        if axe:
            self.axe[name] = page.evaluate(AXE_RUN)
        log(f"screen {name}: {time.monotonic() - started:.1f} s")


def poll(fn: Any, ok: Any, timeout: float) -> Any:
    """driver.poll, at a pace that leaves the pages some CPU (each poll asks every page for its getStats)."""
    return poll_fast(fn, ok, timeout, interval=0.5)


def stats(page: Page) -> dict[str, Any]:
    return page.evaluate("window.castellanStats()")  # type: ignore[no-any-return]


def received_from(s: dict[str, Any], pid: str, key: str = "framesReceived") -> int:
    return sum(v.get(key, 0) for v in s["video"] if v.get("participant") == pid)


def join(page: Page, name: str, password: str | None) -> None:
    page.fill("#name", name)
    if password:
        page.fill("#password", password)
    page.click("#join-button")
    page.wait_for_selector("#meeting-view:not([hidden])", timeout=180000)


def person(s: dict[str, Any], pid: str) -> dict[str, Any]:
    return next((p for p in s["people"] if p["participant"] == pid), {})


def meeting(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    base = cfg["base_url"]
    wait_http(base + "/healthz")
    wait_http(cfg["http_url"] + "/healthz")
    links, secret = cfg["links"], cfg["secret"]
    room = links["meeting"]
    password = room["password"]
    browser = launch(pw, cfg, ["--auto-select-desktop-capture-source=Entire screen"])
    m = Meeting(browser, cfg, result)
    t: dict[str, Any] = result.setdefault("checks", {})
    try:
        # a revoked link says so and never switches the camera on
        r = m.page("revoked", links["revoked"]["link"], f"k={secret}")
        wait_js(r, "document.getElementById('link-state').textContent.length > 20", timeout=45000)
        time.sleep(1.0)  # the page would have asked for the camera by now
        t["revoked"] = r.evaluate("""() => ({state: document.getElementById('link-state').textContent,
            preview: document.getElementById('preview').srcObject !== null, local: !!window.castellanApp.local,
            note: document.getElementById('preview-note').textContent})""")
        m.shot(r, "join-revoked")
        r.context.close()

        # the host (host link) alone: the join page, then the meeting, the invite panel
        h = m.page("H", room["link"], f"k={secret}&h={room['host_key']}")
        wait_js(h, "document.querySelector('#preview').videoWidth > 0", timeout=45000)
        h.fill("#name", "Hilda Host")
        m.shot(h, "join-page")
        join(h, "Hilda Host", None)
        hid = poll(lambda: stats(h), lambda x: x["participant"] is not None, timeout=45)["participant"]
        m.shot(h, "alone", axe=False)
        h.click("#btn-invite")
        t["invite"] = {"link": h.input_value("#invite-link"), "password": h.inner_text("#invite-password")}
        h.click("#btn-copy")
        wait_js(h, "document.getElementById('invite-copied').textContent.length > 0", timeout=45000)
        t["invite"]["copied"] = h.inner_text("#invite-copied")
        m.shot(h, "invite")

        # Bob joins with the password; a phone joins too
        b = m.page("B", room["link"], f"k={secret}")
        join(b, "Bob Builder", password)
        bid = poll(lambda: stats(b), lambda x: x["participant"] is not None, timeout=45)["participant"]
        p = m.page("P", room["link"], f"k={secret}", phone=True)
        m.shot(p, "phone-join", axe=False)
        join(p, "Pat Phone", password)
        pid = poll(lambda: stats(p), lambda x: x["participant"] is not None, timeout=45)["participant"]
        everyone = poll(lambda: [stats(x) for x in (h, b, p)],
                        lambda xs: all(frames(s) > 10 and s["lockClass"].endswith("ok") and s["peopleCount"] == "(3)"
                                       for s in xs), timeout=90)
        t["joined"] = [{k: s[k] for k in ("peopleCount", "toasts", "lock")} for s in everyone]
        t["host_toasts"] = everyone[0]["toasts"]
        t["bob_sees_host_mark"] = "host" in person(everyone[1], hid).get("text", "")
        # the phone's camera at the desktops: decoded, and a picture on screen, not a black tile
        t["phone_at_host"] = seen(h, pid)
        t["phone_at_bob"] = seen(b, pid)
        t["phone_screen_button_hidden"] = p.is_hidden("#btn-screen")
        t["desktop_screen_button_visible"] = h.is_visible("#btn-screen")
        m.shot(p, "phone")
        p.click("#btn-people")
        m.shot(p, "phone-people")
        p.click("#btn-people")
        h.click("#btn-people")
        m.shot(h, "people-host")

        # who is speaking (the fake microphone beeps) and mute state, seen by the host. The speaking mark is the
        # node's one active speaker and all three fake microphones beep alike: the host and the phone mute while
        # Bob is waited for (under CI load the node kept another beeping participant as the speaker for 45 s)
        h.keyboard.press("m")
        p.keyboard.press("m")
        sp = poll(lambda: stats(h), lambda x: person(x, bid).get("speaking"), timeout=45)
        h.keyboard.press("m")
        p.keyboard.press("m")
        t["speaking_seen"] = person(sp, bid).get("speaking", False)
        t["speaking_person"] = person(sp, bid)
        b.keyboard.press("m")  # shortcut
        muted = poll(lambda: stats(h), lambda x: "muted" in person(x, bid).get("text", "").replace("microphone on", ""),
                     timeout=45)
        t["mute_seen_by_host"] = person(muted, bid).get("text")
        b.click("#btn-mic")  # unmute again
        poll(lambda: stats(h), lambda x: "microphone on" in person(x, bid).get("text", ""), timeout=45)

        # raise hand (shortcut H): the host's list and a notice
        b.keyboard.press("h")
        hand = poll(lambda: stats(h), lambda x: person(x, bid).get("hand"), timeout=45)
        t["hand_seen_by_host"] = person(hand, bid).get("hand", False)
        t["hand_toast"] = hand["toasts"]
        m.shot(h, "hand-raised", axe=False)
        b.keyboard.press("h")

        # camera off stops the capture; the host stops receiving frames; camera on sends again, still encrypted
        b.evaluate("window.__camTrack = window.castellanApp.local.getVideoTracks()[0]")
        b.click("#btn-cam")
        off = poll(lambda: stats(b), lambda x: x["camOff"] and x["cameraSender"]["track"] is None, timeout=45)
        t["camera_off_sender"] = {"sender": off["cameraSender"], "local": off["localVideo"],
                                  "old_track": b.evaluate("window.__camTrack.readyState")}
        time.sleep(3.0)  # frames already in flight drain
        before = received_from(stats(h), bid)
        time.sleep(3.0)
        after_stats = stats(h)
        after = received_from(after_stats, bid)
        decoded = received_from(after_stats, bid, "framesDecoded")
        t["frames_while_off"] = after - before
        m.shot(h, "camera-off-host-view", axe=False)
        b.click("#btn-cam")
        on = poll(lambda: stats(h), lambda x: received_from(x, bid, "framesDecoded") > decoded + 20, timeout=45)
        t["camera_on"] = {"decoded_after": received_from(on, bid, "framesDecoded") - decoded, "lock": on["lock"],
                          "sender": stats(b)["cameraSender"]}

        # device switching in the meeting: a new capture replaces the sender's track; the host keeps decoding
        b.click("#btn-settings")
        old_id = b.evaluate("window.castellanApp.local.getVideoTracks()[0].id")
        b.evaluate("""() => { const s = document.getElementById('meeting-camera');
            s.dispatchEvent(new Event('change')); }""")
        wait_js(b, f"window.castellanApp.local.getVideoTracks()[0].id !== {old_id!r}", timeout=45000)
        base_frames = received_from(stats(h), bid, "framesDecoded")
        poll(lambda: stats(h), lambda x: received_from(x, bid, "framesDecoded") > base_frames + 20, timeout=45)
        t["device_switched"] = True
        m.shot(b, "devices")
        b.click("#btn-settings")

        # chat: timestamps, unread count while closed
        h.click("#btn-chat")
        h.fill("#chat-input", "Welcome, everyone")
        h.press("#chat-input", "Enter")
        unread = poll(lambda: stats(b), lambda x: x["unread"] >= 1, timeout=45)
        t["unread"] = unread["unread"]
        t["chat_button"] = b.evaluate("document.getElementById('btn-chat').textContent")  # its accessible name
        m.shot(b, "chat-unread", axe=False)
        b.keyboard.press("c")
        last = "#chat-log li:last-child"
        t["chat_after_open"] = {"unread": stats(b)["unread"], "text": b.inner_text(last),
                                "time": b.eval_on_selector(f"{last} time", "e => e.getAttribute('datetime')")}
        m.shot(b, "chat")
        b.keyboard.press("Escape")

        # screen share: presenter layout at the others, a preview at the presenter
        h.click("#btn-screen")
        pres = poll(lambda: stats(b), lambda x: x["presenting"] and "screen" in (x["stage"] or ""), timeout=45)
        t["presenter_at_bob"] = pres["stage"]
        own = stats(h)
        t["presenter_preview"] = {"presenting": own["presenting"], "stage": own["stage"]}
        m.shot(b, "presenter-layout")
        m.shot(h, "presenter-preview", axe=False)
        m.shot(p, "phone-presenter", axe=False)
        h.click("#btn-screen")
        poll(lambda: stats(b), lambda x: not x["presenting"], timeout=45)

        # details: where and the safety code, no longer in the header
        h.click("#btn-details")
        t["details"] = {"where": h.inner_text("#where"), "safety": h.inner_text("#safety"),
                        "header": h.inner_text("header.bar")}
        m.shot(h, "details")
        h.click("#btn-details")

        # a participant without the host link tries the host's powers: refused, nothing happens
        b.evaluate("window.castellanApp.session.send({type: 'host', action: 'end'})")
        b.evaluate(f"window.castellanApp.session.send({{type: 'host', action: 'remove', participant: {hid!r}}})")
        wait_js(b, "document.getElementById('notice').textContent.includes('host link')", timeout=45000)
        t["forged_host"] = {"notice": b.inner_text("#notice"), "host_still_in": stats(h)["left"] is None,
                            "bob_still_in": stats(b)["left"] is None}

        # lock: a newcomer is refused with a clear message; unlock lets the next one in
        h.click("#btn-people")
        h.click("#btn-lock")
        poll(lambda: stats(b), lambda x: x["locked"], timeout=45)
        t["locked_badge_at_bob"] = b.is_visible("#locked-badge")
        c = m.page("C", room["link"], f"k={secret}")
        c.fill("#name", "Carol Late")
        c.fill("#password", password)
        c.click("#join-button")
        wait_js(c, "document.getElementById('join-error').textContent.length > 0", timeout=45000)
        t["locked_out"] = c.inner_text("#join-error")
        m.shot(c, "join-locked")
        h.click("#btn-lock")
        poll(lambda: stats(b), lambda x: not x["locked"], timeout=45)
        c.click("#join-button")
        c.wait_for_selector("#meeting-view:not([hidden])", timeout=60000)
        # "Connection lost — rejoining…": the socket drops, the page says so and resumes
        c.evaluate("""() => { window.__notices = []; new MutationObserver(() => window.__notices.push(
            document.getElementById('notice').textContent)).observe(document.getElementById('notice'),
            {childList: true, characterData: true, subtree: true}); window.castellanApp.session.ws.close(); }""")
        wait_js(c, "window.castellanApp.session.log.some((l) => l.endsWith(' resumed'))", timeout=45000)
        t["connection_lost_notice"] = c.evaluate("window.__notices")
        # camera off, then a rejoin (the node refuses the resume): the Camera button turns the camera on again
        c.click("#btn-cam")
        cid = poll(lambda: stats(c), lambda x: x["camOff"] and x["cameraSender"]["track"] is None, timeout=45)["participant"]
        c.evaluate("() => { const s = window.castellanApp.session; s.me.resume_secret = 'forgotten'; s.ws.close(); }")
        rejoined = poll(lambda: stats(c), lambda x: x["participant"] not in (None, cid) and x["signalling"] == "open",
                        timeout=90)
        cam = c.evaluate("""() => { const b = document.getElementById('btn-cam');
            return {disabled: b.disabled, label: b.textContent.trim()}; }""")
        t["rejoin_camera_off"] = {"button": cam, "camOff": rejoined["camOff"]}
        if not cam["disabled"]:
            c.click("#btn-cam")
            on_c = poll(lambda: stats(c), lambda x: x["localVideo"] == ["live"] and (x["cameraSender"] or {}).get("track")
                        == "live", timeout=45)
            t["rejoin_camera_off"]["sender"] = on_c["cameraSender"]
            t["rejoin_camera_off"]["at_host"] = seen(h, rejoined["participant"])
        c.click("#btn-leave")
        c.wait_for_selector("#left-view:not([hidden])", timeout=45000)
        t["you_left"] = stats(c)["left"]
        m.shot(c, "you-left")
        c.context.close()

        # ask to mute: Bob's microphone goes off, he is told; the host sees it
        h.click(f"#people-list li[data-participant='{bid}'] button.ask-mute")
        bm = poll(lambda: stats(b), lambda x: x["micMuted"], timeout=45)
        t["asked_to_mute"] = {"muted": bm["micMuted"], "notice": bm["notice"]}
        m.shot(b, "muted-by-host", axe=False)
        hm = poll(lambda: stats(h), lambda x: "muted" in person(x, bid).get("text", "").replace("microphone on", ""),
                  timeout=45)
        t["host_sees_muted"] = person(hm, bid).get("text")

        # remove the phone: its page ends; the others' encrypted group commits it out
        epoch_before = stats(h)["e2ee"]["epoch"]
        remove = f"#people-list li[data-participant='{pid}'] button.remove"
        h.click(remove)
        h.click(remove)  # confirm
        pr = poll(lambda: stats(p), lambda x: x["left"] is not None, timeout=45)
        t["removed"] = pr["left"]
        m.shot(p, "phone-removed")
        gone = poll(lambda: [stats(h), stats(b)],
                    lambda xs: all(pid not in x["roster"] and (x["e2ee"] or {}).get("epoch", -1) > epoch_before
                                   and x["lockClass"].endswith("ok") for x in xs), timeout=45)
        t["after_removal"] = [{"epoch": x["e2ee"]["epoch"], "safety": x["safety"], "people": x["peopleCount"],
                               "members": x["roster"]} for x in gone]
        t["epoch_before_removal"] = epoch_before
        t["removed_page_epoch"] = (stats(p)["e2ee"] or {}).get("epoch")

        # end the meeting for all
        h.click("#btn-end")
        h.click("#btn-end")  # confirm
        ended = poll(lambda: [stats(b), stats(h)], lambda xs: all(x["left"] is not None for x in xs), timeout=45)
        t["ended"] = [x["left"] for x in ended]
        t["camera_after_end"] = b.evaluate("window.castellanApp.local.getTracks().map((t) => t.readyState)")
        m.shot(b, "ended")
        for x in (b, h, p):
            x.context.close()

        # the waiting room, from the meeting: the host denies one guest and admits the next
        lob = links["lobby"]
        hl = m.page("HL", lob["link"], f"k={secret}&h={lob['host_key']}")
        join(hl, "Hilda Host", None)
        d = m.page("D", lob["link"], f"k={secret}")
        d.fill("#name", "Dan Denied")
        d.click("#join-button")
        d.wait_for_selector("#lobby:not([hidden])")
        m.shot(d, "lobby-waiting")
        hl.wait_for_selector("#waiting-room:not([hidden]) button.admit")
        m.shot(hl, "waiting-room")
        hl.click("#waiting-list button:not(.admit)")
        wait_js(d, "document.getElementById('join-error').textContent.length > 0", timeout=45000)
        t["lobby_denied"] = d.inner_text("#join-error")
        m.shot(d, "lobby-denied", axe=False)
        log("meeting checks", t)
    finally:
        browser.close()


SCENARIOS = {"meeting": meeting}
