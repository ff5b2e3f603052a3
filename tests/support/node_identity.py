"""A node's identity for tests that run residency without a whole media node: its key, enrolled with the
control plane, and a real HTTP server on 127.0.0.1 answering the health-check challenge (`/identity`) exactly as
the node app does (residency.identity.challenge_answer), so the control plane's HttpProber is exercised."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from residency.errors import InvalidInput
from residency.identity import NodeSigner, challenge_answer, public_text


class IdentityServer:
    """Answers `/identity?nonce=` for one node id with `signer` until `close()`."""

    def __init__(self, node_id: str, signer: NodeSigner | None = None) -> None:
        self.node_id = node_id
        self.signer = signer or NodeSigner(Ed25519PrivateKey.generate())
        self.answered = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urllib.parse.urlparse(self.path)
                nonce = urllib.parse.parse_qs(url.query).get("nonce", [""])[0]
                try:
                    body, status = challenge_answer(outer.signer, outer.node_id, nonce), 200
                    outer.answered += 1
                except InvalidInput as e:
                    body, status = e.to_dict(), 400
                data = json.dumps(body).encode()
                self.send_response(status if url.path == "/identity" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def public_key(self) -> str:
        return public_text(self.signer.key)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
