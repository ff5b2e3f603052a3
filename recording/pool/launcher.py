"""The Chromium page launcher: one headless Debian Chromium per recorder (its own browser process, so one page's
crash ends only its own recording), opened on the client in recorder mode — the credential's WebSocket and token,
the link secret in the fragment (never sent to a server) and the sink's loopback URL."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlencode

CHROMIUM = os.environ.get("CASTELLAN_CHROMIUM", "/usr/bin/chromium")
# no camera or microphone is ever granted (no --use-fake-ui-for-media-stream): the recorder publishes nothing.
# Loopback candidates allowed (a node on the same host); no throttling of a page nobody looks at.
ARGS = ["--disable-gpu", "--headless=new", "--use-fake-device-for-media-stream", "--allow-loopback-in-peer-connection",
        "--autoplay-policy=no-user-gesture-required", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-renderer-backgrounding",
        "--disable-background-timer-throttling", "--disable-backgrounding-occluded-windows",
        "--disable-dev-shm-usage", "--mute-audio",
        # without camera/microphone permission Chromium hides its host candidates behind mDNS names, which a
        # recorder host need not resolve: the node (the operator's own) may see the recorder's addresses
        "--disable-features=WebRtcHideLocalIpsWithMdns"]

STATE_JS = """() => { const a = window.castellanApp || {}, s = a.session;
  return { joined: !!(s && s.me), recording: a.recording || null,
           recorder: window.castellanRecorder ? window.castellanRecorder() : null }; }"""


def page_url(client_url: str, answer: dict[str, Any], secret: str, sink_url: str) -> str:
    q = {"ws": answer["ws_url"], "token": answer["token"], "name": answer.get("name", "archive"),
         "autojoin": "1", "recorder": sink_url, "vw": "320", "vh": "240"}
    return f"{client_url.rstrip('/')}/static/join.html?{urlencode(q)}#k={secret}"


class RecorderPage:
    """A recorder page in a browser of its own. `crashed`: the page or its browser went away (a Playwright event,
    seen at the next call into Playwright)."""

    def __init__(self, pw: Any, url: str, chromium: str = CHROMIUM) -> None:
        self.crashed = False
        self.console: list[str] = []
        self.browser = pw.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
        self.browser.on("disconnected", lambda *_: self._died("browser disconnected"))
        ctx = self.browser.new_context(viewport={"width": 640, "height": 480})
        self.page = ctx.new_page()
        self.page.on("crash", lambda *_: self._died("page crashed"))
        self.page.on("close", lambda *_: self._died("page closed"))
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"[:500]))
        self.page.goto(url, wait_until="load", timeout=30000)

    def _died(self, why: str) -> None:
        if not self.crashed:
            self.crashed = True
            self.console.append(why)

    def state(self) -> dict[str, Any] | None:
        """The page's session and recorder state, or None once it is gone (this call also delivers its events)."""
        if self.crashed:
            return None
        try:
            return self.page.evaluate(STATE_JS)  # type: ignore[no-any-return]
        except Exception:  # noqa: BLE001 - a page that cannot answer is a dead page
            self._died("page does not answer")
            return None

    def bye(self) -> None:
        """Tell the tap to close the files (the sink ends its session)."""
        if self.crashed:
            return
        try:
            self.page.evaluate("window.castellanApp.e2ee.worker.postMessage({type: 'record-bye'})")
        except Exception:  # noqa: BLE001
            self._died("page does not answer")

    def close(self) -> None:
        """Leaves the meeting (the members remove it from the group at once, not after the resume grace), then
        ends its browser."""
        if not self.crashed:
            try:
                self.page.evaluate("async () => { const s = window.castellanApp.session; if (s) await s.leave(); }")
            except Exception:  # noqa: BLE001 - gone meanwhile
                pass
        try:
            self.browser.close()
        except Exception:  # noqa: BLE001 - already gone
            pass
