"""Serving the browser client: the join page (`/j/{link}`, `/static/join.html`), its files (`/static/...`), the
release manifest (`GET /v1/client`), each under the Content-Security-Policy of `csp.py`.

Production pages are the files as released, byte for byte: read once at start, hashed (`release.py`), served
from that snapshot, so what `/v1/client` names is exactly what browsers get. A **development build** is a page
served by a process started with an explicit development option (`castellan dev --dev-client`, the browser
tests' harness): the join page then carries `<meta name="castellan-build" content="development">`, which alone
lets the client honour `?ws=`, `?token=`, `?e2ee=0` and `?autojoin=1` (signalling/client/state.js), and so its
release hash is not the released one; its files are read from disk at every request (edit and reload) and its
`connect-src` allows any WebSocket. `castellan
control-plane` has no such option: a link cannot put a page into development mode.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from . import metrics
from .csp import DEVELOPMENT_CONNECT, client_csp, node_origins
from .errors import ApiError
from .linkids import LINK_PATTERN
from .release import ClientRelease, read_client, release_of

log = logging.getLogger(__name__)

PAGE = "join.html"
DEVELOPMENT_MARKER = '<meta name="castellan-build" content="development">'
_TYPES = {".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
          ".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8", ".wasm": "application/wasm"}
ORIGINS_TTL = 2.0  # seconds a policy built from the node records is reused (one registry read per page load at most)


@dataclass(frozen=True)
class _Snapshot:
    release: ClientRelease
    bodies: dict[str, bytes]


class ClientPages:
    """`configured`: the node origins the deployment names (csp.parse_origins), else `registered()` gives the
    node records' WebSocket URLs; `development` is the explicit development option described above."""

    def __init__(self, root: Path, *, version: str, registered: Callable[[], Iterable[str]],
                 configured: tuple[str, ...] = (), development: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.root = root
        self.version = version
        self.development = development
        self._configured = configured
        self._origins = registered
        self._clock = clock
        self._policy: tuple[float, str] | None = None
        self._snapshot = self._read()

    # -------------------------------------------------------------------------------------------------- files

    def _read(self) -> _Snapshot:
        bodies = read_client(self.root)
        if self.development and PAGE in bodies:  # the manifest describes what is served: marked, not released
            bodies[PAGE] = bodies[PAGE].replace(b"<head>", b"<head>\n" + DEVELOPMENT_MARKER.encode(), 1)
        return _Snapshot(release_of(bodies, self.version), bodies)

    def snapshot(self) -> _Snapshot:
        if self.development:  # a developer edits the client and reloads
            self._snapshot = self._read()
        return self._snapshot

    @property
    def release(self) -> ClientRelease:
        return self.snapshot().release

    # ------------------------------------------------------------------------------------------------- policy

    def csp(self) -> str:
        if self.development:
            return client_csp(DEVELOPMENT_CONNECT)
        if self._configured:
            return client_csp(self._configured)
        now = self._clock()
        if self._policy is None or now - self._policy[0] > ORIGINS_TTL:
            try:
                urls = list(self._origins())
            except Exception:  # the registry is away: keep the last policy (none yet: 'self' only, fail closed)
                log.warning("node origins unreadable for connect-src", exc_info=True)
                if self._policy is not None:
                    return self._policy[1]
                urls = []
            good, bad = node_origins(urls)
            for url in bad:  # a node record that would break or widen the policy: left out, counted
                metrics.CSP_NODE_URLS_REFUSED.inc()
                log.warning("node WebSocket URL %r left out of connect-src: not a plain ws(s) origin", url)
            self._policy = (now, client_csp(good))
        return self._policy[1]

    def _headers(self, cache: str) -> dict[str, str]:
        return {"Content-Security-Policy": self.csp(), "Cache-Control": cache, "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}

    # --------------------------------------------------------------------------------------------- responses

    def page(self) -> Response:
        """The join page (one document for the join, meeting and "you left" views)."""
        body = self.snapshot().bodies.get(PAGE)
        if body is None:
            return HTMLResponse("<!doctype html><title>Castellan</title><p>The browser client is not installed on "
                                "this server.</p>", headers=self._headers("no-store"))
        return Response(body, media_type=_TYPES[".html"], headers=self._headers("no-store"))

    async def join_page(self, request: Request) -> Response:
        """`/j/{link}`: the link id is checked for shape only; the #fragment (the link secret) stays in the
        browser."""
        if re.fullmatch(LINK_PATTERN, request.path_params["link"]) is None:
            raise ApiError(404, "link_not_found", "this meeting link is not valid")
        return self.page()

    async def static(self, request: Request) -> Response:
        """`/static/{name}`: only the release's files (no directory listing, no README, no dotfiles)."""
        name = request.path_params["name"]
        if name == PAGE:
            return self.page()
        snap = self.snapshot()
        body = snap.bodies.get(name)
        if body is None:
            raise ApiError(404, "not_found", "no such client file")
        etag = f'"{snap.release.files[name]}"'
        headers = {**self._headers("no-cache"), "ETag": etag}
        if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=_TYPES[Path(name).suffix], headers=headers)
