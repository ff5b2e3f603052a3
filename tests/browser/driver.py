"""Playwright driver, run INSIDE the loopback-only namespace (tests/browser/netns.py): `driver.py SCENARIO CONFIG`.

Prints progress lines and, last, `RESULT {json}` for the test to assert on. Every wait is bounded.
"""

from __future__ import annotations

import base64
import json
import sys
import time
import traceback
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, Playwright, ViewportSize, sync_playwright

from tests.support.waiting import wait_until

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
    # without camera/microphone permission Chromium hides host candidates behind mDNS names, which a namespace
    # with only `lo` cannot serve; real networks can (receive-only participants then use mDNS + srflx)
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]


def log(*a: Any) -> None:
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def wait_http(url: str, timeout: float = 20.0) -> None:
    def up() -> bool:
        with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - loopback inside the namespace
            return r.status == 200

    wait_until(up, timeout, 0.1, ignore=(Exception,), message=f"{url} not up")


def launch(
    pw: Playwright, cfg: dict[str, Any], extra: list[str] | None = None, drop: tuple[str, ...] = ()
) -> Browser:
    args = [a for a in CHROMIUM_ARGS if a not in drop] + (extra or [])
    return pw.chromium.launch(executable_path=cfg["chromium"], headless=True, args=args)


def open_page(
    browser: Browser, url: str, sink: list[str], tag: str, viewport: ViewportSize | None = None
) -> Page:
    ctx = browser.new_context(viewport=viewport or {"width": 960, "height": 600})
    page = ctx.new_page()
    page.on("console", lambda m: sink.append(f"[{tag}] {m.type}: {m.text}"))
    page.on("pageerror", lambda e: sink.append(f"[{tag}] pageerror: {e}"))
    page.goto(url, wait_until="load", timeout=15000)
    return page


def poll(fn: Callable[[], Any], ok: Callable[[Any], bool], timeout: float, interval: float = 0.25) -> Any:
    """fn()'s value once ok(value), or its last value when `timeout` passed."""
    last: list[Any] = []

    def check() -> bool:
        last[:] = [fn()]
        return ok(last[0])

    wait_until(check, timeout, interval)
    return last[0]


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


def minimal_resume(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    """Two Chromium instances on /dev/minimal; the node closes one's socket itself (a message over 256 KiB: close
    1009, like 4008 `too_slow` a close the client did not ask for); that page resumes the same participant and
    media goes on both ways."""
    wait_http(cfg["http_url"] + "/healthz")
    console: list[str] = []
    result["console"] = console
    browsers = [launch(pw, cfg), launch(pw, cfg)]
    pages = [open_page(b, f"{cfg['http_url']}/dev/minimal?ws={cfg['ws_url']}&token={t}", console, f"p{i}")
             for i, (b, t) in enumerate(zip(browsers, cfg["tokens"], strict=True))]

    def both() -> list[dict[str, Any]]:
        return [p.evaluate("window.castellanStats()") for p in pages]

    before = poll(both, lambda s: all(frames(x) > 0 for x in s), timeout=25)
    me = pages[0].evaluate("window.castellan.me.participant")
    pages[0].evaluate("window.castellan.ws.send('x'.repeat(300000))")
    state = poll(lambda: pages[0].evaluate("({resumes: window.castellan.resumes, log: window.castellan.log.slice(-6),"
                                           " open: window.castellan.ws.readyState === 1})"),
                 lambda x: x["resumes"] >= 1 and x["open"], timeout=15)
    after = poll(both, lambda s: all(frames(a) > frames(b) + 30 for a, b in zip(s, before, strict=True)), timeout=15)
    result["resume"] = {
        "resumes": state["resumes"],
        "open": state["open"],
        "log": state["log"],
        "same_participant": pages[0].evaluate("window.castellan.me.participant") == me,
        "frames_before": [frames(x) for x in before],
        "frames_after": [frames(x) for x in after],
        "status": [p.locator("#status").inner_text() for p in pages],
    }
    log("resume", result["resume"])
    for b in browsers:
        b.close()


class Participant:
    """One Chromium instance on the client page (tests drive it through window.castellanStats())."""

    def __init__(
        self,
        pw: Playwright,
        cfg: dict[str, Any],
        tag: str,
        console: list[str],
        extra: list[str] | None = None,
        drop: tuple[str, ...] = (),
    ) -> None:
        self.tag = tag
        self.browser = launch(pw, cfg, extra, drop)
        self.console = console
        self.page: Page | None = None

    def open(self, url: str) -> Participant:
        self.page = open_page(
            self.browser, url, self.console, self.tag, viewport={"width": 1100, "height": 680}
        )
        return self

    def stats(self) -> dict[str, Any]:
        assert self.page is not None
        return self.page.evaluate("window.castellanStats()")  # type: ignore[no-any-return]

    def frames_from(self, pid: str, s: dict[str, Any] | None = None) -> int:
        s = s or self.stats()
        return sum(v["framesDecoded"] for v in s["video"] if v.get("participant") == pid)

    def shot(self, art: Path, name: str, result: dict[str, Any]) -> None:
        assert self.page is not None
        path = art / name
        self.page.screenshot(path=str(path))
        result.setdefault("screenshots", []).append(str(path))

    def close(self) -> None:
        try:
            self.browser.close()
        except Exception:  # noqa: BLE001
            pass


def client_url(
    cfg: dict[str, Any],
    token: str,
    name: str,
    secret: str | None,
    autojoin: bool = True,
    e2ee: bool = True,
    transform: str | None = None,
    codec: str | None = None,
    size: tuple[int, int] = (320, 240),
) -> str:
    from urllib.parse import urlencode

    q = {"ws": cfg["ws_url"], "token": token, "name": name, "vw": str(size[0]), "vh": str(size[1])}
    if autojoin:
        q["autojoin"] = "1"
    if not e2ee:
        q["e2ee"] = "0"
    if transform:
        q["transform"] = transform
    if codec:
        q["codec"] = codec
    return f"{cfg['base_url']}/static/join.html?{urlencode(q)}" + (f"#k={secret}" if secret else "")


def wait_decoding(
    parts: dict[str, Participant], timeout: float, min_frames: int = 1
) -> dict[str, dict[str, Any]]:
    """Until every participant decodes video from every other one (at least min_frames each)."""

    def snap() -> dict[str, dict[str, Any]]:
        return {k: p.stats() for k, p in parts.items()}

    def ok(s: dict[str, dict[str, Any]]) -> bool:
        ids = {k: v["participant"] for k, v in s.items()}
        return all(
            ids[k] is not None and all(parts[k].frames_from(ids[o], s[k]) >= min_frames for o in s if o != k)
            for k in s
        )

    return poll(snap, ok, timeout)


def _e2ee_trace(parts: dict[str, Participant], label: str, seen: dict[str, str]) -> None:
    """Logs what each participant's E2EE member did since the last trace (its log lines), its epoch and lock, and
    its worker's decode counts: what a slow join or a stalled rotation needs to be understood from the log."""
    for k, p in parts.items():
        try:
            s = p.stats()
        except Exception as err:  # noqa: BLE001
            log("trace", label, k, "stats failed:", err)
            continue
        e = s.get("e2ee") or {}
        lines = s.get("e2eeLog") or []
        new = [ln for ln in lines if ln > seen.get(k, "")]
        if lines:
            seen[k] = lines[-1]
        log(
            "trace", label, k, "epoch", e.get("epoch"), "send", e.get("sendEpoch"), s.get("lockClass"), s.get("lock"),
            "video", [(v.get("participant"), v.get("framesDecoded"), v.get("packetsReceived")) for v in s["video"]],
            "refusals", {x: n for x, n in (e.get("refusals") or {}).items() if n},
        )
        try:
            assert p.page is not None
            frames = p.page.evaluate(
                "(window.castellanApp && window.castellanApp.e2ee ? window.castellanApp.e2ee.workerStats.streams || [] : [])"
                ".filter((s) => s.op === 'decode' && s.kind === 'video')"
                ".map((s) => [s.participant, s.ok, s.noKey, s.failed, s.keyFrameRequests])"
            )
        except Exception as err:  # noqa: BLE001
            frames = str(err)
        log("  frames", k, "[participant, opened, no key, failed, keyframe requests]", frames)
        for ln in new:
            log("  e2ee", k, ln)


def e2ee_meeting(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    """Issue 6, with issue 12's MLS client: E2EE on by default. Two decode each other; a wrong link secret decodes
    nothing and says so; a joiner and a leave each start a new epoch; the others still see each other; safety codes
    match."""
    wait_http(cfg["base_url"] + "/static/join.html")
    wait_http(cfg["http_url"] + "/healthz")
    art = Path(cfg["artifacts"])
    console: list[str] = []
    result["console"] = console
    tok = cfg["tokens"]
    parts: dict[str, Participant] = {}
    seen: dict[str, str] = {}
    try:
        a = parts["A"] = Participant(pw, cfg, "A", console)
        a.open(client_url(cfg, tok["A"], "Ada", cfg["secret"], autojoin=False))
        assert a.page is not None
        wait_js(a.page, "document.querySelector('#preview').videoWidth > 0", timeout=10000)
        a.shot(art, "join-page-direct.png", result)
        a.page.click("#join-button")
        b = parts["B"] = Participant(pw, cfg, "B", console).open(
            client_url(cfg, tok["B"], "Bob", cfg["secret"])
        )
        wait_decoding({"A": a, "B": b}, timeout=25)
        # both decode; the lock turns green once the frames both ways are under the current epoch (a moment after
        # the commit that added B: senders switch 250 ms later)
        s = poll(lambda: {k: p.stats() for k, p in (("A", a), ("B", b))},
                 lambda x: all(v["lockClass"].endswith("ok") for v in x.values()), timeout=10)
        result["two"] = s
        log("two decoding", {k: v["e2ee"]["epoch"] if v["e2ee"] else None for k, v in s.items()})
        time.sleep(2)
        s2 = {k: p.stats() for k, p in (("A", a), ("B", b))}
        result["two_later"] = s2
        a.page.evaluate("window.castellanChat('hello from Ada, encrypted')")
        # the wrong secret
        c = parts["C"] = Participant(pw, cfg, "C", console).open(
            client_url(cfg, tok["C"], "Mallory", cfg["wrong_secret"])
        )
        poll(lambda: c.stats(), lambda x: "Waiting to be added" in x["lock"] and len(x["tiles"]) == 3, timeout=12)
        time.sleep(1)
        result["wrong"] = {k: p.stats() for k, p in parts.items()}
        log("wrong secret", result["wrong"]["C"]["lock"], result["wrong"]["C"]["problems"][:1])
        c.shot(art, "meeting-wrong-secret.png", result)
        a.shot(art, "meeting-with-wrong-secret-participant.png", result)
        assert c.page is not None
        _e2ee_trace(parts, "wrong secret", seen)
        c.page.click("#btn-leave")
        time.sleep(1)
        c.close()
        del parts["C"]
        before_join = a.stats()["e2ee"]["epoch"]
        # a third with the right secret joins: the key ratchets
        d = parts["D"] = Participant(pw, cfg, "D", console).open(
            client_url(cfg, tok["D"], "Dee", cfg["secret"])
        )
        s3 = wait_decoding(parts, timeout=25, min_frames=1)
        _e2ee_trace(parts, "D decoding", seen)

        def same_epoch_and_code(x: dict[str, dict[str, Any]]) -> bool:
            codes = {v["safety"] for v in x.values()}
            epochs = {v["e2ee"]["epoch"] for v in x.values()}
            return len(codes) == 1 and None not in codes and len(epochs) == 1

        s3 = poll(lambda: {k: p.stats() for k, p in parts.items()}, same_epoch_and_code, timeout=10)
        result["three"] = s3
        result["epoch_before_join"] = before_join
        log("three", {k: (v["e2ee"]["epoch"], v["safety"]) for k, v in s3.items()})
        a.page.evaluate("document.getElementById('btn-chat').click()")
        time.sleep(1.5)
        a.shot(art, "meeting-three.png", result)
        # D leaves: a fresh random key the leaver never saw
        assert d.page is not None
        _e2ee_trace(parts, "three", seen)
        before_leave = a.stats()["e2ee"]["epoch"]
        d.page.click("#btn-leave")
        time.sleep(0.5)
        d.shot(art, "left-page.png", result)
        d.close()
        del parts["D"]
        result["epoch_before_leave"] = before_leave
        s4 = poll(
            lambda: {k: p.stats() for k, p in parts.items()},
            lambda x: (
                same_epoch_and_code(x)
                and all(v["e2ee"]["epoch"] > before_leave for v in x.values())
                and all(len(v["tiles"]) == 2 for v in x.values())
            ),
            timeout=10,
        )
        result["after_leave"] = s4
        f0 = {k: p.frames_from(s4[o]["participant"], s4[k]) for k, p in parts.items() for o in s4 if o != k}
        time.sleep(3)
        s5 = {k: p.stats() for k, p in parts.items()}
        result["after_leave_later"] = s5
        _e2ee_trace(parts, "after leave", seen)
        f1 = {k: p.frames_from(s5[o]["participant"], s5[k]) for k, p in parts.items() for o in s5 if o != k}
        result["frames_after_leave"] = [f0, f1]
        log(
            "after leave",
            {k: (v["e2ee"]["epoch"], v["e2ee"]["sendEpoch"], v["safety"]) for k, v in s5.items()},
            f0,
            f1,
        )
        a.shot(art, "meeting-after-leave.png", result)
        # mute and camera off reach the other side (authenticated state messages)
        a.page.click("#btn-mic")
        b_page = parts["B"]
        aid = s5["A"]["participant"]
        muted = poll(
            b_page.stats, lambda x: any(t["participant"] == aid and t["muted"] for t in x["tiles"]), timeout=8
        )
        result["mute_seen"] = any(t["participant"] == aid and t["muted"] for t in muted["tiles"])
        a.page.click("#btn-mic")
        # the signalling socket drops: the client resumes its session (same participant, no password, media on)
        before = a.stats()
        a.page.evaluate("window.castellanApp.session.ws.close()")
        resumed = poll(a.stats, lambda x: x["resumes"] >= 1 and x["signalling"] == "open", timeout=15)
        time.sleep(2)
        after = a.stats()
        result["resume"] = {
            "resumes": resumed["resumes"],
            "signalling": resumed["signalling"],
            "same_participant": after["participant"] == before["participant"],
            "frames": [
                a.frames_from(s5["B"]["participant"], before),
                a.frames_from(s5["B"]["participant"], after),
            ],
            "lock": after["lock"],
            "notice": after["notice"],
        }
        log("resume", result["resume"], "mute seen", result["mute_seen"])
    finally:
        _e2ee_trace(parts, "end", seen)
        for p in parts.values():
            p.close()


def debug_two(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    wait_http(cfg["base_url"] + "/static/join.html")
    wait_http(cfg["http_url"] + "/healthz")
    console: list[str] = []
    result["console"] = console
    tok = cfg["tokens"]
    a = Participant(pw, cfg, "A", console).open(client_url(cfg, tok["A"], "Ada", cfg["secret"]))
    b = Participant(pw, cfg, "B", console).open(client_url(cfg, tok["B"], "Bob", cfg["secret"]))
    for _ in range(int(cfg.get("seconds", 10))):
        time.sleep(1)
        for p in (a, b):
            s = p.stats()
            e = s["e2ee"] or {}
            log(
                p.tag,
                s["quality"],
                s["qualityDetail"],
                s["lock"],
                s["connection"],
                [(v["participant"], v["framesDecoded"], v["packetsReceived"]) for v in s["video"]],
                e.get("epoch"),
                e.get("sendEpoch"),
                e.get("sending"),
                {k: (v["state"], v["ok"], v["failed"]) for k, v in (e.get("tracks") or {}).items()},
            )
    result["a"] = a.stats()
    result["b"] = b.stats()
    a.close()
    b.close()


def chromium_cpu_seconds() -> float:
    import os

    import psutil

    total = 0.0
    for proc in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if "chrom" in proc.name().lower():
                t = proc.cpu_times()
                total += t.user + t.system
        except psutil.Error:
            pass
    return total


def ciphertext_and_cpu(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    """The browser CPU cost of E2EE (two browsers in one meeting, on vs off), then: the node forwards only
    ciphertext — a bot subscribed through the node gets video av cannot decode, while without E2EE it decodes.
    (The bot runs with one browser left, so the 2-core test machine keeps up.)"""
    import subprocess

    wait_http(cfg["base_url"] + "/static/join.html")
    wait_http(cfg["http_url"] + "/healthz")
    art = Path(cfg["artifacts"])
    console: list[str] = []
    result["console"] = console
    seconds = float(cfg.get("seconds", 8))
    for mode in ("on", "off"):
        tok = cfg["tokens"][mode]
        parts = {k: Participant(pw, cfg, f"{k}-{mode}", console) for k in ("A", "B")}
        try:
            for k, p in parts.items():
                p.open(client_url(cfg, tok[k], f"{k} ({mode})", cfg["secret"], e2ee=(mode == "on")))
            wait_decoding(parts, timeout=25, min_frames=10)
            time.sleep(2)  # let bandwidth estimation settle
            s0 = {k: p.stats() for k, p in parts.items()}
            cpu0, t0 = chromium_cpu_seconds(), time.monotonic()
            time.sleep(seconds)
            cpu1, t1 = chromium_cpu_seconds(), time.monotonic()
            s1 = {k: p.stats() for k, p in parts.items()}
            ids = {k: v["participant"] for k, v in s1.items()}
            frames = {
                k: parts[k].frames_from(ids[o], s1[k]) - parts[k].frames_from(ids[o], s0[k])
                for k in parts
                for o in parts
                if o != k
            }
            crypto_ms = {
                k: (s1[k]["e2ee"] or {}).get("cryptoMs", 0) - (s0[k]["e2ee"] or {}).get("cryptoMs", 0)
                for k in parts
            }
            sent = {
                k: sum(o["framesEncoded"] for o in s1[k]["outbound"])
                - sum(o["framesEncoded"] for o in s0[k]["outbound"])
                for k in parts
            }
            result[mode] = {
                "cpu_seconds": cpu1 - cpu0,
                "wall_seconds": t1 - t0,
                "frames_decoded": frames,
                "frames_encoded": sent,
                "crypto_ms": crypto_ms,
                "lock": {k: v["lock"] for k, v in s1.items()},
            }
            parts["A"].shot(art, f"meeting-e2ee-{mode}.png", result)
            log(mode, result[mode])
            parts["B"].close()
            out = art / f"capture-{mode}.json"
            out.unlink(missing_ok=True)
            bot = subprocess.run(
                [
                    sys.executable,
                    str(Path(__file__).with_name("capture_bot.py")),
                    cfg["ws_url"],
                    tok["bot"],
                    "6",
                    str(out),
                    str(art / f"capture-{mode}"),
                ],
                capture_output=True,
                text=True,
                timeout=40,
            )
            result[mode]["capture"] = (
                json.loads(out.read_text()) if out.exists() else {"stderr": bot.stderr[-3000:]}
            )
            log(mode, "capture", result[mode]["capture"].get("counts"))
        finally:
            for p in parts.values():
                p.close()


def http_json(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    import urllib.error

    req = urllib.request.Request(
        url,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310 - loopback inside the namespace
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def wait_js(page: Page, expression: str, timeout: int = 10000) -> Any:
    """Polls a JS expression from Python (page.wait_for_function compiles strings with eval, which a strict
    Content-Security-Policy forbids; CDP evaluation is not subject to the page's CSP)."""
    return wait_until(lambda: page.evaluate(expression), timeout / 1000, 0.1,
                      message=f"JS {expression!r}")


def join_flow(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    """Issue 6 item 1: the join page opened from meeting links served by a real control plane: refusals are
    explained (revoked, expired, refused placement, wrong password, rate limit with Retry-After), the lobby
    waits until the host admits, and a successful join shows where the meeting is processed."""
    base = cfg["base_url"]
    wait_http(base + "/healthz")
    wait_http(cfg["http_url"] + "/healthz")
    art = Path(cfg["artifacts"])
    links = cfg["links"]
    console: list[str] = []
    result["console"] = console
    secret = cfg["secret"]
    browser = launch(pw, cfg)
    ctx_pages: list[Page] = []

    def page_for(name: str, fragment: str | None = None) -> Page:
        url = f"{base}/j/{links[name]['link']}#" + (fragment or f"k={secret}")
        ctx = browser.new_context(viewport={"width": 1100, "height": 680})
        page = ctx.new_page()
        page.on("console", lambda m: console.append(f"[{name}] {m.type}: {m.text}"))
        page.on("pageerror", lambda e: console.append(f"[{name}] pageerror: {e}"))
        page.goto(url, wait_until="load", timeout=15000)
        ctx_pages.append(page)
        return page

    def shot(page: Page, name: str) -> None:
        path = art / name
        page.screenshot(path=str(path))
        result.setdefault("screenshots", []).append(str(path))

    texts: dict[str, Any] = {}
    result["texts"] = texts
    second = None
    try:
        # refused links: the page says why before anyone types anything
        for name in ("revoked", "expired"):
            p = page_for(name)
            wait_js(p, "document.getElementById('link-state').textContent.length > 30", timeout=10000)
            texts[name] = {
                "state": p.inner_text("#link-state"),
                "button_disabled": p.is_disabled("#join-button"),
            }
            shot(p, f"join-{name}.png")
            p.context.close()
        # refused placement: a tenant whose jurisdiction has no region here
        p = page_for("us_tenant")
        p.fill("#name", "Ursula")
        p.click("#join-button")
        wait_js(p, "document.getElementById('join-error').textContent.length > 0", timeout=10000)
        texts["placement"] = p.inner_text("#join-error")
        shot(p, "join-placement-refused.png")
        p.context.close()
        # a successful join from the link, with password, preview and device choice
        a = page_for("meeting")
        wait_js(a, "document.querySelector('#preview').videoWidth > 0", timeout=10000)
        a.fill("#name", "Ada Lovelace")
        a.fill("#password", "wrong-password")
        a.click("#join-button")
        wait_js(a, "document.getElementById('join-error').textContent.length > 0", timeout=10000)
        texts["wrong_password"] = a.inner_text("#join-error")
        a.fill("#password", links["meeting"]["password"])
        texts["devices"] = {
            "camera": a.eval_on_selector_all("#camera option", "os => os.map(o => o.textContent)"),
            "mic": a.eval_on_selector_all("#mic option", "os => os.map(o => o.textContent)"),
            "password_visible": a.is_visible("#password"),
        }
        shot(a, "join-page.png")
        a.click("#join-button")
        a.wait_for_selector("#meeting-view:not([hidden])", timeout=15000)
        # the device cookie the correct password set (stored only if the page sent the join with credentials)
        texts["device_cookie"] = [{k: c.get(k) for k in ("name", "httpOnly", "sameSite", "path")}
                                  for c in a.context.cookies() if c["name"] == "castellan_device"]
        b_browser = launch(pw, cfg)
        second = b_browser
        bctx = b_browser.new_context(viewport={"width": 1100, "height": 680})
        b = bctx.new_page()
        b.on("console", lambda m: console.append(f"[B] {m.type}: {m.text}"))
        b.goto(f"{base}/j/{links['meeting']['link']}#k={secret}", wait_until="load")
        b.fill("#name", "Bob")
        b.fill("#password", links["meeting"]["password"])
        b.click("#join-button")
        b.wait_for_selector("#meeting-view:not([hidden])", timeout=15000)
        st = poll(
            lambda: [a.evaluate("window.castellanStats()"), b.evaluate("window.castellanStats()")],
            lambda x: all(frames(s) > 10 and s["lockClass"].endswith("ok") for s in x),
            timeout=25,
        )
        texts["meeting"] = [
            {k: s[k] for k in ("where", "lock", "safety", "tiles")} | {"frames": frames(s)} for s in st
        ]
        texts["where_title"] = a.get_attribute("#where", "title")
        shot(a, "meeting-from-link.png")
        # the lobby: the host (host link) is in the meeting; Carol waits until the host admits her from the page
        a.context.close()
        b_browser.close()
        second = None
        lobby = links["lobby"]
        h = page_for("lobby", fragment=f"k={secret}&h={lobby['host_key']}")
        texts["host_password_hidden"] = not h.is_visible("#password")
        h.fill("#name", "Hilda (host)")
        h.click("#join-button")
        h.wait_for_selector("#meeting-view:not([hidden])", timeout=15000)
        c = page_for("lobby")
        c.fill("#name", "Carol")
        c.click("#join-button")
        c.wait_for_selector("#lobby:not([hidden])", timeout=10000)
        texts["lobby"] = c.inner_text("#lobby")
        shot(c, "join-lobby.png")
        h.wait_for_selector("#waiting-room:not([hidden]) button.admit", timeout=10000)
        texts["waiting_room"] = h.inner_text("#waiting-room")
        shot(h, "meeting-host-waiting-room.png")
        h.click("#waiting-list button.admit")
        c.wait_for_selector("#meeting-view:not([hidden])", timeout=30000)
        texts["lobby_admitted"] = True
        seen = poll(lambda: h.evaluate("window.castellanStats()"), lambda x: frames(x) > 5, timeout=20)
        texts["host_sees_admitted"] = [t["name"] for t in seen["tiles"]]
        texts["waiting_room_after"] = h.is_visible("#waiting-room")
        h.context.close()
        c.context.close()
        # rate limiting: too many wrong passwords -> 429 with Retry-After, shown as a countdown
        m = page_for("meeting")
        m.fill("#name", "Mallory")
        for i in range(8):
            m.fill("#password", f"guess-{i}")
            wait_js(m, "!document.getElementById('join-button').disabled", timeout=10000)
            m.click("#join-button")
            wait_js(m, "document.getElementById('join-error').textContent.length > 0", timeout=10000)
            err = m.inner_text("#join-error")
            if "try" in err.lower() and "again" in err.lower() and "s before" in err:
                break
        texts["rate_limited"] = {
            "error": m.inner_text("#join-error"),
            "attempts": i + 1,
            "button_disabled": m.is_disabled("#join-button"),
        }
        shot(m, "join-rate-limited.png")
    finally:
        browser.close()
        if second is not None:
            second.close()


def legacy_transform(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    """E2EE through the createEncodedStreams fallback on one side and RTCRtpScriptTransform on the other."""
    wait_http(cfg["base_url"] + "/static/join.html")
    wait_http(cfg["http_url"] + "/healthz")
    console: list[str] = []
    result["console"] = console
    tok = cfg["tokens"]
    codec = cfg.get("codec")
    ta = cfg.get("transform_a")
    parts = {
        "A": Participant(pw, cfg, "A", console).open(
            client_url(cfg, tok["A"], "A", cfg["secret"], transform=ta, codec=codec)
        ),
        "B": Participant(pw, cfg, "B", console).open(
            client_url(cfg, tok["B"], "B", cfg["secret"], codec=codec, e2ee=cfg.get("b_e2ee", True))
        ),
    }
    try:
        if cfg.get("b_e2ee", True):
            wait_decoding(parts, timeout=25, min_frames=5)
        else:  # nothing will decode: wait until both are connected and have had media for a while
            poll(
                lambda: [p.stats() for p in parts.values()],
                lambda x: all(v["connection"] == "connected" and v["video"] for v in x),
                timeout=25,
            )
            time.sleep(4)
        s0 = {k: p.stats() for k, p in parts.items()}
        time.sleep(3)
        s1 = {k: p.stats() for k, p in parts.items()}
        result["s0"], result["s1"] = s0, s1
        parts["A"].shot(Path(cfg["artifacts"]), cfg.get("screenshot", "meeting-legacy-transform.png"), result)
    finally:
        for p in parts.values():
            p.close()


def node_restart(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    """Issue 6 item 5: the media node crashes and comes back. Clients say so, try to resume, are refused by the
    fresh node, and rejoin through the control plane without asking for the password again; media and
    end-to-end encryption recover."""
    import subprocess

    base = cfg["base_url"]
    art = Path(cfg["artifacts"])
    wait_http(base + "/healthz")
    console: list[str] = []
    result["console"] = console
    node_log = open(art / "restart.node-inner.log", "wb")  # noqa: SIM115
    node = subprocess.Popen(cfg["node_argv"], stdout=node_log, stderr=subprocess.STDOUT)
    parts: dict[str, Participant] = {}
    try:
        wait_http(cfg["http_url"] + "/healthz")
        link = cfg["links"]["meeting"]
        for k, name in (("A", "Ada"), ("B", "Bob")):
            p = parts[k] = Participant(pw, cfg, k, console).open(f"{base}/j/{link['link']}#k={cfg['secret']}")
            assert p.page is not None
            p.page.fill("#name", name)
            p.page.fill("#password", link["password"])
            p.page.click("#join-button")
            p.page.wait_for_selector("#meeting-view:not([hidden])", timeout=15000)
        before = wait_decoding(parts, timeout=25, min_frames=10)
        result["before"] = {
            k: {"participant": v["participant"], "lock": v["lock"]} for k, v in before.items()
        }
        log("before", result["before"])
        node.kill()  # a crash: no goodbye to anyone
        node.wait(10)
        lost = poll(parts["A"].stats, lambda x: "rejoining" in x["notice"], timeout=10)
        result["notice_while_down"] = lost["notice"]
        parts["A"].shot(art, "meeting-node-lost.png", result)
        time.sleep(2)
        node = subprocess.Popen(cfg["node_argv"], stdout=node_log, stderr=subprocess.STDOUT)
        wait_http(cfg["http_url"] + "/healthz")

        def recovered(x: dict[str, dict[str, Any]]) -> bool:
            ids = {k: v["participant"] for k, v in x.items()}
            return all(ids[k] not in (None, result["before"][k]["participant"]) for k in x) and all(
                parts[k].frames_from(ids[o], x[k]) > 10 and "End-to-end encrypted" in x[k]["lock"]
                for k in x
                for o in x
                if o != k
            )

        after = poll(lambda: {k: p.stats() for k, p in parts.items()}, recovered, timeout=40)
        result["after"] = {
            k: {
                "participant": v["participant"],
                "lock": v["lock"],
                "notice": v["notice"],
                "safety": v["safety"],
                "frames": frames(v),
            }
            for k, v in after.items()
        }
        result["recovered"] = recovered(after)
        log("after", result["after"])
        parts["A"].shot(art, "meeting-after-node-restart.png", result)
    finally:
        for p in parts.values():
            p.close()
        if node.poll() is None:
            node.kill()
            node.wait(10)
        node_log.close()


def devices(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    """Camera/microphone denied: a clear message, and the participant still joins to watch and listen.
    Screen share: a second tile at the others, gone again when sharing stops."""
    wait_http(cfg["base_url"] + "/static/join.html")
    wait_http(cfg["http_url"] + "/healthz")
    art = Path(cfg["artifacts"])
    console: list[str] = []
    result["console"] = console
    tok = cfg["tokens"]
    parts: dict[str, Participant] = {}
    try:
        a = parts["A"] = Participant(
            pw, cfg, "A", console, extra=["--auto-select-desktop-capture-source=Entire screen"]
        )
        a.open(client_url(cfg, tok["A"], "Ada", cfg["secret"]))
        b = parts["B"] = Participant(
            pw,
            cfg,
            "B",
            console,
            extra=["--deny-permission-prompts"],
            drop=("--use-fake-ui-for-media-stream",),
        )
        b.open(client_url(cfg, tok["B"], "Bob", cfg["secret"], autojoin=False))
        assert a.page is not None and b.page is not None
        b.page.wait_for_selector("#preview-note:not([hidden])", timeout=10000)
        result["denied_note"] = b.page.inner_text("#preview-note")
        b.shot(art, "join-camera-denied.png", result)
        b.page.click("#join-button")
        b.page.wait_for_selector("#meeting-view:not([hidden])", timeout=15000)
        aid = poll(a.stats, lambda x: x["participant"] is not None, timeout=10)["participant"]
        sb = poll(b.stats, lambda x: b.frames_from(aid, x) > 10, timeout=25)
        result["denied_receives"] = b.frames_from(aid, sb)
        log("denied side", sb["video"], sb["e2ee"], sb["lock"], sb["e2eeLog"], sb["connection"])
        result["denied_outbound"] = sb["outbound"]
        # screen share
        a.page.click("#btn-screen")
        sb = poll(
            b.stats,
            lambda x: (
                sum(1 for v in x["video"] if v["participant"] == aid and v["framesDecoded"] > 5) >= 2
                and any("screen" in t["name"] for t in x["tiles"])
            ),
            timeout=25,
        )
        result["screen_tiles"] = [t["name"] for t in sb["tiles"]]
        result["screen_videos"] = [v["framesDecoded"] for v in sb["video"] if v["participant"] == aid]
        # what the screen share's sender sends: its encodings, and getStats for its m-line
        result["screen_sent"] = a.page.evaluate("""async () => { const t = window.castellanApp.screen.transceiver;
          const out = (await window.castellanStats()).outbound.filter((o) => o.mid === t.mid);
          return {encodings: t.sender.getParameters().encodings.map((e) => ({rid: e.rid || "",
            scalabilityMode: e.scalabilityMode || ""})), outbound: out}; }""")
        b.shot(art, "meeting-screen-share.png", result)
        b.page.set_viewport_size({"width": 390, "height": 844})  # a phone: the grid reflows to one column
        time.sleep(0.5)
        b.shot(art, "meeting-phone.png", result)
        b.page.set_viewport_size({"width": 1100, "height": 680})
        a.page.click("#btn-screen")
        sb = poll(b.stats, lambda x: not any("screen" in t["name"] for t in x["tiles"]), timeout=15)
        result["tiles_after_stop"] = [t["name"] for t in sb["tiles"]]
        log("devices", result["denied_note"], result["screen_tiles"], result["tiles_after_stop"])
    finally:
        for p in parts.values():
            p.close()


def _small_then_large(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any], publish: str, shot: str) -> None:
    """A publisher (`publish`: the minimal client's query, e.g. simulcast=1 or svc=L3T3_KEY); a subscriber showing
    its video 180 px high, then 720 px: what it decodes at each size, and what the publisher was told / sends."""
    wait_http(cfg["http_url"] + "/healthz")
    console: list[str] = []
    result["console"] = console
    pub_browser, sub_browser = launch(pw, cfg), launch(pw, cfg)
    base = f"{cfg['http_url']}/dev/minimal?ws={cfg['ws_url']}"
    pub = open_page(pub_browser, f"{base}&token={cfg['tokens'][0]}&{publish}", console, "pub")
    sub = open_page(sub_browser, f"{base}&token={cfg['tokens'][1]}&viewport=180", console, "sub")

    def video() -> dict[str, Any]:
        v = sub.evaluate("window.castellanStats()").get("video", [])
        return v[0] if v else {}

    def sent() -> Any:
        return pub.evaluate("""(async () => { const out = [];
          (await window.castellan.pc.getStats()).forEach((s) => { if (s.type === "outbound-rtp" && s.kind === "video")
            out.push({ rid: s.rid || "", scalabilityMode: s.scalabilityMode || "", frameWidth: s.frameWidth || 0,
                       encoder: s.encoderImplementation || "", limited: s.qualityLimitationReason || "",
                       fps: s.framesPerSecond || 0, active: s.active }); });
          return out; })()""")

    small = poll(video, lambda v: v.get("framesDecoded", 0) > 30 and 0 < v.get("frameWidth", 0) <= 400, timeout=40)
    result["small"] = small
    result["published"] = sent()
    result["pub_layers_small"] = pub.evaluate("window.castellan.layers || null")
    log("small viewport", small.get("frameWidth"), small.get("framesDecoded"), result["published"])
    wait_js(sub, FRAME_GAPS)
    result["viewport_changed"] = sub.evaluate("performance.timeOrigin + performance.now()")
    sub.evaluate("window.castellanViewport(720)")
    large = poll(video, lambda v: v.get("frameWidth", 0) >= 960, timeout=40)
    result["large"] = large
    result["published_large"] = sent()  # a top layer the publisher's encoder dropped (CPU) shows here
    log("large viewport", large.get("frameWidth"), large.get("framesDecoded"), result["published_large"])
    time.sleep(2)
    result["after"] = video()
    after_at = time.time()
    result["pub_layers_large"] = pub.evaluate("window.castellan.layers || null")
    result["pub_errors"] = pub.evaluate("window.castellan.errors || []")
    time.sleep(5)  # the top layer settled: its measured rate meets the node's estimate (no thinning, no step down)
    result["later"] = video()
    result["later_span"] = time.time() - after_at
    result["published_later"] = sent()
    result["timeline"] = sub.evaluate("window.__timeline || []")
    result["gaps"] = sub.evaluate("""(window.__presented || []).map((f, i, a) => i ? [f[0], f[0] - a[i - 1][0], f[1]]
      : null).filter((g) => g && g[1] > 80)""")  # presented frames that came late: [wall ms, gap ms, width]
    path = Path(cfg["artifacts"]) / shot
    sub.screenshot(path=str(path))
    result["screenshots"] = [str(path)]
    for b in (pub_browser, sub_browser):
        b.close()


def simulcast(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    """A Chromium publisher sends three simulcast layers; a subscriber that shows the video small gets the lowest
    layer, and when it shows it large the node switches it up at a keyframe, without a freeze."""
    _small_then_large(pw, cfg, result, "simulcast=1", "simulcast-subscriber-large.png")


def svc(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    """A Chromium publisher sends VP9 with three spatial layers in one stream (L3T3_KEY); a subscriber showing it
    small gets the lowest spatial layer, shown large it gets the top one — the node drops layers, never decodes."""
    _small_then_large(pw, cfg, result, "svc=L3T3_KEY", "svc-subscriber-large.png")


# Every 100 ms the subscriber's video stats (wall time ms, width, framesDecoded, keyFramesDecoded, freezeCount,
# totalFreezesDuration), and every presented frame's wall time and width, to tell which switch a freeze follows.
FRAME_GAPS = """
(() => {
  const v = document.querySelector("video");
  if (!v || !window.castellanStats) return false;
  window.__timeline = []; window.__presented = [];
  const cb = (now, meta) => { window.__presented.push([performance.timeOrigin + now, meta.width]);
    v.requestVideoFrameCallback(cb); };
  v.requestVideoFrameCallback(cb);
  let n = 0;
  const tick = async () => {
    const s = (await window.castellanStats()).video[0] || {};
    window.__timeline.push([performance.timeOrigin + performance.now(), s.frameWidth, s.framesDecoded,
      s.keyFramesDecoded, s.freezeCount, s.totalFreezesDuration, s.pliCount]);
    if (++n < 300) setTimeout(tick, 100);
  };
  tick();
  return true;
})()
"""


# Reads the frame number a bench publisher draws in each frame's top row (loadtests/media.py: 12 blocks of
# 16x16 px, white = 1, at every resolution) from every frame the page presents, with the frame's width.
FRAME_READER = """
(() => {
  const v = document.querySelector("video");
  if (!v) return false;
  const c = document.createElement("canvas");
  c.width = 192; c.height = 16;
  const g = c.getContext("2d", { willReadFrequently: true });
  window.__frames = [];
  const cb = (now, meta) => {
    g.drawImage(v, 0, 0, 192, 16, 0, 0, 192, 16);
    const px = g.getImageData(0, 0, 192, 16).data;
    let n = 0;
    for (let b = 0; b < 12; b++) {
      let sum = 0;
      for (let y = 4; y < 12; y++) for (let x = b * 16 + 4; x < b * 16 + 12; x++) {
        const i = (y * 192 + x) * 4; sum += px[i] + px[i + 1] + px[i + 2];
      }
      if (sum / (64 * 3) > 127) n |= 1 << b;
    }
    window.__frames.push([performance.timeOrigin + now, meta.width, n]);
    v.requestVideoFrameCallback(cb);
  };
  v.requestVideoFrameCallback(cb);
  return true;
})()
"""


def throttled(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    """A Chromium subscriber behind a rate limit (set up by the test): record what it decodes while throttled,
    run cfg['lift'] (the command that removes the limit) after cfg['throttled'] seconds, then wait for the top
    layer. Frames are read by number from the page; getStats gives freezes and losses."""
    import subprocess

    wait_http(cfg["http_url"] + "/healthz")
    console: list[str] = []
    result["console"] = console
    browser = launch(pw, cfg)
    page = open_page(browser, f"{cfg['http_url']}/dev/minimal?ws={cfg['ws_url']}&token={cfg['token']}&viewport=720",
                     console, "sub")

    def video() -> dict[str, Any]:
        v = page.evaluate("window.castellanStats()").get("video", [])
        return v[0] if v else {}

    first = poll(video, lambda v: v.get("framesDecoded", 0) > 0, timeout=40)
    if not first.get("framesDecoded"):
        raise RuntimeError(f"no video decoded: {first}")
    wait_js(page, FRAME_READER)
    start = time.time()
    samples = []
    while time.time() - start < cfg["throttled"]:
        samples.append({"t": time.time(), **video()})
        time.sleep(0.5)
    lift = subprocess.run(cfg["lift"], capture_output=True, text=True, timeout=10)
    result["lifted"] = time.time()
    result["lift_rc"] = (lift.returncode, lift.stderr)
    end = time.time() + cfg["after"]
    top_since = None
    while time.time() < end:
        v = video()
        samples.append({"t": time.time(), **v})
        if v.get("frameWidth", 0) >= 1280:
            top_since = top_since or time.time()
            if time.time() - top_since > 3:
                break
        time.sleep(0.5)
    result["samples"] = samples
    result["frames"] = page.evaluate("window.__frames || []")
    result["started"] = start
    browser.close()


SELECTED_PAIR = """async () => {
  const pc = window.castellanApp.session.pc; const r = await pc.getStats(); const by = {}; let pair = null;
  r.forEach((s) => { by[s.id] = s; });
  r.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = by[s.selectedCandidatePairId]; });
  if (!pair) return null;
  const l = by[pair.localCandidateId], rm = by[pair.remoteCandidateId];
  return { state: pair.state,
           local: { type: l.candidateType, protocol: l.protocol, relayProtocol: l.relayProtocol || null,
                    address: l.address, url: l.url || null },
           remote: { type: rm.candidateType, protocol: rm.protocol, address: rm.address, port: rm.port } };
}"""


def tls_turn(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    """Issue 13: Chromium participants, each in its own namespace, open the https meeting link through nginx
    (trusting the test CA's certificate by its SPKI hash) and meet; A's namespace drops all UDP and all TCP but
    to 443, so A's media must go through the region's TURN over TLS on 443. Each participant is launched through
    its own executable (`ip netns exec <its namespace> chromium`). `participants` ([key, name] in join order;
    default A then B); with `pause_after` (a key), once those joined see each other the driver records their frames
    in `pause_file` and waits (bounded) for `resume_file` before the rest join — the test acts on the deployment
    meanwhile (the rehearsal kills a control-plane replica there)."""
    console: list[str] = []
    result["console"] = console
    link = cfg["link"]
    parts: dict[str, Participant] = {}
    try:
        for k, name in cfg.get("participants", [["A", "Ada (no UDP)"], ["B", "Bob"]]):
            extra = [f"--host-resolver-rules={cfg['resolve'][k]}",
                     f"--ignore-certificate-errors-spki-list={cfg['spki']}"]
            p = parts[k] = Participant(pw, {**cfg, "chromium": cfg["chromium_by"][k]}, k, console, extra=extra)
            p.open(f"{cfg['base_url']}/j/{link['link']}#k={cfg['secret']}")
            assert p.page is not None
            p.page.fill("#name", name)
            p.page.fill("#password", link["password"])
            p.page.click("#join-button")
            p.page.wait_for_selector("#meeting-view:not([hidden])", timeout=30000)
            log("joined", k)
            if k == cfg.get("pause_after"):
                st = wait_decoding(parts, timeout=60, min_frames=30)
                result["before_pause"] = {x: frames(v) for x, v in st.items()}
                Path(cfg["pause_file"]).write_text(json.dumps(result["before_pause"]))
                deadline = time.monotonic() + 60
                while not Path(cfg["resume_file"]).exists() and time.monotonic() < deadline:
                    time.sleep(0.2)
                assert Path(cfg["resume_file"]).exists(), "the test never said to go on"
        st = wait_decoding(parts, timeout=60, min_frames=30)
        result["stats"] = {k: {"frames": frames(v), "lock": v["lock"], "where": v["where"],
                               "participant": v["participant"]} for k, v in st.items()}
        result["pairs"] = {k: p.page.evaluate(SELECTED_PAIR) for k, p in parts.items() if p.page is not None}
        result["pages"] = {k: p.page.evaluate("({origin: location.origin, secure: window.isSecureContext, "
                                              "ws: window.castellanApp.session.wsUrl, "
                                              "ice: window.castellanApp.session.me.ice_servers.map(s => s.urls)})")
                           for k, p in parts.items() if p.page is not None}
        log("pairs", result["pairs"])
        parts["A"].shot(Path(cfg["artifacts"]), cfg.get("shot", "meeting-through-turn-tls.png"), result)
    finally:
        for p in parts.values():
            p.close()


class Listener:
    """A TCP listener on loopback standing for an attacker's node: counts the connections it is offered (accepts
    and closes them). Runs while the scenario runs; bounded by the driver's own timeout."""

    def __init__(self, port: int) -> None:
        import socket
        import threading

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.accepted = 0
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.stopped = True
        self.thread.join(2)
        self.sock.close()


# a WebSocket to another host from inside the page: what CSP does with it (the violation event, the exception)
CSP_PROBE = """async (url) => {
  const seen = [];
  document.addEventListener('securitypolicyviolation', (e) => seen.push({directive: e.effectiveDirective,
    blocked: e.blockedURI}));
  let error = null, state = null;
  try { const ws = new WebSocket(url); ws.onerror = () => {}; state = ws.readyState; }
  catch (e) { error = e.name + ': ' + e.message; }
  await new Promise((r) => setTimeout(r, 1500));
  return {seen, error, state};
}"""


def client_pages(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    """Issue 12, point 4. A production join page opened from a crafted link (?ws= to an attacker's listener,
    ?token=, ?e2ee=0, ?autojoin=1, ?region=) ignores those flags, joins the node its join answer names, keeps E2EE on,
    and its CSP blocks a WebSocket to another host; its footer shows the release hash of the files it fetched.
    A development build (served so by its own server) honours the same flags: the listener sees that
    connection, so its silence for the production page means something."""
    base, dev_base = cfg["base_url"], cfg["dev_base_url"]
    wait_http(base + "/healthz")
    wait_http(cfg["http_url"] + "/healthz")
    wait_http(dev_base + "/v1/client")
    art = Path(cfg["artifacts"])
    console: list[str] = []
    result["console"] = console
    attacker = Listener(cfg["attacker_port"])
    evil_ws = f"ws://127.0.0.1:{cfg['attacker_port']}/ws"
    link = cfg["links"]["meeting"]
    browser = launch(pw, cfg)
    try:
        evil_sink = f"ws://127.0.0.1:{cfg['attacker_port']}/tap"
        crafted = (f"{base}/j/{link['link']}?ws={evil_ws}&token=forged&e2ee=0&autojoin=1&region=us-1&name=Victim"
                   f"&recorder={evil_sink}#k={cfg['secret']}")
        p = open_page(browser, crafted, console, "prod", viewport={"width": 1100, "height": 680})
        wait_js(p, "document.querySelector('#preview').videoWidth > 0", timeout=10000)
        wait_js(p, "document.getElementById('release').dataset.sha256 !== undefined", timeout=10000)
        time.sleep(1.5)  # autojoin would have started by now (it runs right after the preview)
        result["prod_before_join"] = p.evaluate("""() => ({development: castellanApp.development,
            ignored: castellanApp.ignoredFlags, direct: castellanApp.direct, e2eeWanted: castellanApp.e2eeWanted,
            recorderJob: castellanApp.recorderJob, recorderRefused: castellanApp.recorderRefused,
            joinFormShown: !document.getElementById('join-view').hidden, session: !!castellanApp.session,
            e2eeNote: document.getElementById('e2ee-note').textContent})""")
        result["prod_footer"] = {"text": p.inner_text("#release"), "sha256": p.get_attribute("#release", "data-sha256")}
        result["prod_csp_probe"] = p.evaluate(CSP_PROBE, evil_ws)
        p.fill("#password", link["password"])
        p.click("#join-button")
        p.wait_for_selector("#meeting-view:not([hidden])", timeout=15000)
        poll(lambda: p.evaluate("window.castellanStats()"), lambda s: s["signalling"] == "open" and s["joined"],
             timeout=15)
        time.sleep(2)
        result["prod_joined"] = p.evaluate("""async () => ({wsUrl: castellanApp.session.ws.url,
            answerUrl: castellanApp.joinAnswer.ws_url, e2ee: castellanApp.e2ee !== null,
            recorder: window.castellanRecorder ? window.castellanRecorder() : null,
            stats: await window.castellanStats()})""")
        person_token = p.evaluate("castellanApp.joinAnswer.token")
        p.screenshot(path=str(art / "client-pages-production.png"))
        result["attacker_after_production"] = attacker.accepted
        log("production page", result["prod_before_join"], result["prod_joined"]["wsUrl"], attacker.accepted)
        p.context.close()
        # Issue 15: the only way into recorder mode on a production page is a job its browser hands it (the pool's
        # own, recording/pool/launcher.py). Handed a person's credential, or a forged "recorder" one whose
        # signature the node refuses, with the attacker's listener as the sink: nothing is recorded anywhere.
        result["recorder_jobs"] = {}
        forged = person_token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(forged[1] + "=" * (-len(forged[1]) % 4)))
        forged[1] = base64.urlsafe_b64encode(json.dumps({**claims, "role": "recorder"}).encode()).rstrip(b"=").decode()
        for kind, token in (("person", person_token), ("forged", ".".join(forged))):
            ctx = browser.new_context()
            job = {"ws_url": cfg["node_ws"], "token": token, "name": "Mallory archive", "sink": evil_sink,
                   "secret": cfg["secret"]}
            ctx.add_init_script(script=f"window.castellanRecorderJob = {json.dumps(job)};")
            r = ctx.new_page()
            r.on("console", lambda m, k=kind: console.append(f"[job-{k}] {m.type}: {m.text}"))
            r.goto(f"{base}/static/join.html", wait_until="load", timeout=15000)
            time.sleep(4)  # a job that runs joins at once
            result["recorder_jobs"][kind] = r.evaluate("""() => ({job: !!castellanApp.recorderJob,
                refused: castellanApp.recorderRefused, joined: !!(castellanApp.session && castellanApp.session.me),
                linkState: document.getElementById('link-state').textContent,
                recorder: window.castellanRecorder ? window.castellanRecorder() : null})""")
            ctx.close()
        result["attacker_after_jobs"] = attacker.accepted
        # the development build (another server, explicitly so) honours the flags: the listener sees it
        d = open_page(browser, f"{dev_base}/static/join.html?ws={evil_ws}&token=forged&e2ee=0&autojoin=1&name=Dev"
                      f"#k={cfg['secret']}", console, "dev")
        wait_until(lambda: attacker.accepted > result["attacker_after_production"], 15, 0.1,
                   message="the development page never connected to the ?ws= listener")
        wait_js(d, "document.getElementById('release').dataset.sha256 !== undefined", timeout=10000)
        result["dev"] = d.evaluate("""() => ({development: castellanApp.development, ignored: castellanApp.ignoredFlags,
            e2eeWanted: castellanApp.e2eeWanted, footer: document.getElementById('release').textContent,
            sha256: document.getElementById('release').dataset.sha256})""")
        result["attacker_after_dev"] = attacker.accepted
        d.context.close()
    finally:
        attacker.close()
        browser.close()


SCENARIOS: dict[str, Callable[[Playwright, dict[str, Any], dict[str, Any]], None]] = {
    "throttled": throttled,
    "svc": svc,
    "simulcast": simulcast,
    "minimal_two": minimal_two,
    "minimal_resume": minimal_resume,
    "e2ee_meeting": e2ee_meeting,
    "debug_two": debug_two,
    "ciphertext_and_cpu": ciphertext_and_cpu,
    "join_flow": join_flow,
    "legacy_transform": legacy_transform,
    "node_restart": node_restart,
    "devices": devices,
    "tls_turn": tls_turn,


    "client_pages": client_pages,
}


def main() -> int:
    scenario, cfg_path = sys.argv[1], sys.argv[2]
    cfg = json.loads(Path(cfg_path).read_text())
    result: dict[str, Any] = {"scenario": scenario}
    if scenario not in SCENARIOS:  # issue 12's MLS scenarios and issue 16's meeting live in their own modules
        from tests.browser.meeting_media_scenarios import SCENARIOS as MEETING_MEDIA
        from tests.browser.meeting_scenarios import SCENARIOS as MEETING
        from tests.browser.mls_scenarios import SCENARIOS as MLS
        from tests.browser.pool_failover_scenarios import SCENARIOS as POOL_FAILOVER
        from tests.browser.pool_scenarios import SCENARIOS as POOL
        from tests.browser.recording_scenarios import SCENARIOS as RECORDING

        SCENARIOS.update(MLS)
        SCENARIOS.update(MEETING)
        SCENARIOS.update(MEETING_MEDIA)
        SCENARIOS.update(RECORDING)
        SCENARIOS.update(POOL)
        SCENARIOS.update(POOL_FAILOVER)
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
