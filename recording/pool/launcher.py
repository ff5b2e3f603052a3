"""The Chromium page launcher: one headless Debian Chromium per recorder (its own browser process, so one page's
crash ends only its own recording), opened on the deployment's **production** client page. Nothing of the job is
put in a URL (no token in an access log or a history, and no link can make a page a recorder): the pool's own
browser hands the page its job — the credential's WebSocket and token, the link secret, the sink's loopback URL —
as `window.castellanRecorderJob`, defined by an init script before any of the page's scripts run
(signalling/client/recorder-job.js). The page enters recorder mode only for a credential whose role is `recorder`
and once the node says so (`joined.recorder`).

The deployment's Content-Security-Policy names the control plane and its nodes only; the tap must reach the sink on
loopback. So this browser alone — the pool's own — adds exactly the sink's origin to `connect-src` of the pages it
loads from the client's origin (a Playwright route; every other page and browser keeps the policy as served).
A development build (`--dev-client`) still honours `?recorder=` for the tests that use it; the pool no longer
needs one."""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any
from urllib.parse import urlsplit

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
  return { joined: !!(s && s.me), recording: a.recording || null, refused: a.recorderRefused || null,
           recorder: window.castellanRecorder ? window.castellanRecorder() : null }; }"""


def page_address(client_url: str) -> str:
    """The production join page, with nothing in its query or fragment."""
    return f"{client_url.rstrip('/')}/static/join.html"


def recorder_job(answer: dict[str, Any], secret: str | None, sink_url: str) -> dict[str, str]:
    """What the page is handed (recorder-job.js reads it): the control plane's join answer for the job's
    credential, the link secret where the pool has it (else the page asks the sink for its KeyPackage's
    attestation and is handed the link's secrets by a member: docs/recording.md), the sink."""
    job = {"ws_url": str(answer["ws_url"]), "token": str(answer["token"]), "name": str(answer.get("name", "archive")),
           "sink": sink_url}
    if secret is not None:
        job["secret"] = secret
    return job


def job_script(job: dict[str, str]) -> str:
    """The init script: a frozen, non-writable `window.castellanRecorderJob` (JSON, so nothing in the job is code)."""
    return ("Object.defineProperty(window, 'castellanRecorderJob', "
            f"{{value: Object.freeze({json.dumps(job)}), writable: false, configurable: false}});")


def sink_origin(sink_url: str) -> str:
    parts = urlsplit(sink_url)
    if parts.scheme != "ws" or parts.hostname not in ("127.0.0.1", "::1", "localhost") or parts.port is None:
        raise ValueError(f"the sink must be ws:// on loopback with a port: {sink_url!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"ws://{host}:{parts.port}"


def with_sink(csp: str, origin: str) -> str:
    """`csp` with `origin` added to its connect-src (and nothing else changed); a policy without connect-src
    falls back to default-src, so one is added naming 'self' and the sink."""
    directives = [d.strip() for d in csp.split(";") if d.strip()]
    for i, d in enumerate(directives):
        if d.split()[0].lower() == "connect-src":
            directives[i] = f"{d} {origin}"
            break
    else:
        directives.append(f"connect-src 'self' {origin}")
    return "; ".join(directives)


class RecorderPage:
    """A recorder page in a browser of its own. `crashed`: the page or its browser went away (a Playwright event,
    seen at the next call into Playwright)."""

    def __init__(self, pw: Any, client_url: str, job: dict[str, str], chromium: str = CHROMIUM) -> None:
        self.crashed = False
        self.console: list[str] = []
        origin = sink_origin(job["sink"])
        client = urlsplit(client_url)
        self.browser = pw.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
        self.browser.on("disconnected", lambda *_: self._died("browser disconnected"))
        ctx = self.browser.new_context(viewport={"width": 640, "height": 480})
        # Chromium's Local Network Access: a page served from a public address (a deployment; here also any page
        # this route fulfils) may reach a loopback or private address only with this permission — for the sink on
        # loopback, and for a node on a private address. Granted to the client's origin alone.
        ctx.grant_permissions(["local-network-access"], origin=f"{client.scheme}://{client.netloc}")
        ctx.add_init_script(script=job_script(job))

        def allow_sink(route: Any) -> None:  # the client's own files (page and worker): the sink added, bytes as served
            # never raises: Playwright hands a route callback's exception to the next call made through it — after
            # a killed browser, that was the replacement's launch, and the continuation failed (found by
            # test_recorder_pool_browser.py); a file that cannot be fetched is simply not served
            try:
                response = route.fetch()
                headers = dict(response.headers)
                if "content-security-policy" in headers:
                    headers["content-security-policy"] = with_sink(headers["content-security-policy"], origin)
                route.fulfill(response=response, headers=headers)
            except Exception:  # noqa: BLE001 - the browser went away, or the server did: the page fails to load
                self.console.append(f"route: {route.request.url} not served")
                with contextlib.suppress(Exception):
                    route.abort()

        ctx.route(f"{client.scheme}://{client.netloc}/static/**", allow_sink)
        self.context = ctx
        self.page = ctx.new_page()
        self.page.on("crash", lambda *_: self._died("page crashed"))
        self.page.on("close", lambda *_: self._died("page closed"))
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"[:500]))
        self.page.goto(page_address(client_url), wait_until="load", timeout=30000)

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
        with contextlib.suppress(Exception):  # routes still in flight end quietly
            self.context.unroute_all(behavior="ignoreErrors")
        try:
            self.browser.close()
        except Exception:  # noqa: BLE001 - already gone
            pass
