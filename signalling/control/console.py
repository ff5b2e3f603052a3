"""The tenant admin console: static ES modules from `signalling/console/`, served at `/console` (the page) and
`/console/{file}`, read once at start.

It signs in with a tenant admin key (or the operator key) that the page keeps in the tab's sessionStorage and
sends as `Authorization: Bearer` to the same admin API the CLI uses: no cookie is ever set, so another site's
form or script cannot act with the admin's authority (no CSRF), and the API answers no cross-origin reads. The
policy is stricter than the meeting page's: `connect-src 'self'` (the console talks to the control plane only),
`media-src 'self'` (a recording played from the control plane under a play ticket, nothing else), no frames, and
the page may not be framed (clickjacking)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from .errors import ApiError
from .release import read_client

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"
PAGE = "console.html"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "media-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
_TYPES = {".js": "text/javascript; charset=utf-8", ".html": "text/html; charset=utf-8",
          ".css": "text/css; charset=utf-8"}
HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer", "Cross-Origin-Opener-Policy": "same-origin",
           "Cache-Control": "no-store"}


class ConsolePages:
    def __init__(self, root: Path = CONSOLE_DIR) -> None:
        self.bodies = {n: b for n, b in read_client(root).items() if Path(n).suffix in _TYPES} if root.is_dir() else {}

    def _file(self, name: str) -> Response:
        body = self.bodies.get(name)
        if body is None:
            raise ApiError(404, "not_found", "no such console file")
        return Response(body, media_type=_TYPES[Path(name).suffix], headers=HEADERS)

    async def page(self, request: Request) -> Response:
        return self._file(PAGE)

    async def static(self, request: Request) -> Response:
        """Only the console's own files (no listing, no dotfiles, nothing outside its folder)."""
        return self._file(request.path_params["name"])
