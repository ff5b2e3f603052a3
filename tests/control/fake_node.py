"""A stand-in for a media node's admin endpoint: a real HTTP server on 127.0.0.1 that verifies the control
plane's admin JWT exactly as a node must (`TokenVerifier.verify_admin(token, "room:end")`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from signalling.tokens import TokenError, TokenVerifier


class FakeNode:
    def __init__(self, node_id: str, jwks: Callable[[], dict[str, Any]]) -> None:
        self.node_id = node_id
        self.verifier = TokenVerifier(jwks, node_id)
        self.ended: list[tuple[str, str]] = []
        self.refused: list[str] = []
        self.url = ""


@contextmanager
def fake_node(node_id: str, jwks: Callable[[], dict[str, Any]]) -> Iterator[FakeNode]:
    node = FakeNode(node_id, jwks)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            parts = self.path.strip("/").split("/")
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            try:
                node.verifier.verify_admin(token, "room:end")
            except TokenError as e:
                node.refused.append(e.code)
                self.send_response(401)
                self.end_headers()
                return
            if len(parts) == 5 and parts[:2] == ["admin", "rooms"] and parts[4] == "end":
                node.ended.append((parts[2], parts[3]))
                self.send_response(200)
            else:
                self.send_response(404)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    node.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield node
    finally:
        server.shutdown()
        server.server_close()
