"""Run an ASGI app under a real uvicorn on 127.0.0.1 (a free port) in a background thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import uvicorn

from tests.support.ports import free_port
from tests.support.waiting import wait_until


@contextmanager
def serve(app: Any, port: int | None = None, tls: tuple[str, str] | None = None) -> Iterator[str]:
    """`tls`: (certificate chain, key) files: serve https."""
    port = port or free_port()
    extra: dict[str, Any] = {"ssl_certfile": tls[0], "ssl_keyfile": tls[1]} if tls else {}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                                           **extra))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 10, 0.02, message="uvicorn did not start")
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def redirect_trap() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A hostile "control plane" URL that answers every request with a 307 to a second server, and the headers
    that second server saw (a client that follows the redirect hands it its `Authorization` header)."""
    seen: list[dict[str, str]] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def _any(self) -> None:
            seen.append(dict(self.headers))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = do_PUT = do_DELETE = _any

        def log_message(self, *a: Any) -> None:
            pass

    class Redirector(BaseHTTPRequestHandler):
        def _any(self) -> None:
            self.send_response(307)
            self.send_header("Location", f"http://127.0.0.1:{thief.server_port}{self.path}")
            self.end_headers()

        do_GET = do_POST = do_PUT = do_DELETE = _any

        def log_message(self, *a: Any) -> None:
            pass

    thief = ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Redirector)
    for s in (thief, proxy):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{proxy.server_port}", seen
    finally:
        for s in (thief, proxy):
            s.shutdown()
            s.server_close()


class Recorder:
    """ASGI middleware keeping every byte a client sent: method, path, query string, headers and body."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[bytes] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.seen.append(scope["method"].encode() + b" " + scope.get("raw_path", scope["path"].encode()) + b"?"
                         + scope.get("query_string", b""))
        self.seen.extend(k + b": " + v for k, v in scope.get("headers", []))

        async def recv() -> Any:
            message = await receive()
            if message.get("type") == "http.request":
                self.seen.append(message.get("body", b""))
            return message

        await self.app(scope, recv, send)

    def everything(self) -> bytes:
        return b"\n".join(self.seen)
