"""The health check over HTTP: `GET <node http_url>/identity?nonce=...`, answered by the node with its signature
over the nonce (sfu/app: `/identity`). The edge behind `trust.Prober`; bounded by a short timeout."""

from __future__ import annotations

import json
import ssl
import urllib.parse
import urllib.request

from .model import Node

MAX_ANSWER = 4096


class HttpProber:
    def __init__(self, timeout: float = 1.0, context: ssl.SSLContext | None = None) -> None:
        self.timeout = timeout
        self.context = context

    def challenge(self, node: Node, nonce: str) -> str | None:
        if not node.http_url.startswith(("http://", "https://")):
            return None
        url = node.http_url.rstrip("/") + "/identity?" + urllib.parse.urlencode({"nonce": nonce})
        try:
            with urllib.request.urlopen(url, timeout=self.timeout, context=self.context) as r:  # noqa: S310
                doc = json.loads(r.read(MAX_ANSWER))
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict) or doc.get("node") != node.id or not isinstance(doc.get("signature"), str):
            return None
        return str(doc["signature"])
