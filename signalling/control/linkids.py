"""Meeting link ids: 128 random bits + a 128-bit HMAC-SHA256 tag, base64url (43 characters).

The tag is checked (in constant time) before any database lookup, so a guessed or mangled link costs one HMAC
and never touches the store; guessing a valid one means guessing 256 bits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_CONTEXT = b"castellan-link-v1\x00"
ID_BYTES = 16
TAG_BYTES = 16
LINK_LEN = 43  # base64url of 32 bytes, unpadded
LINK_PATTERN = "[A-Za-z0-9_-]{43}"


class LinkSigner:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("link secret must be at least 32 bytes")
        self._secret = secret

    def _tag(self, raw_id: bytes) -> bytes:
        return hmac.new(self._secret, _CONTEXT + raw_id, hashlib.sha256).digest()[:TAG_BYTES]

    def new(self) -> str:
        # never a leading "-": a link id is pasted as a command-line argument (castellan link revoke ID), where
        # it would read as an option; redrawing costs nothing (1 draw in 64) and keeps 128 random bits
        while True:
            raw = secrets.token_bytes(ID_BYTES)
            link = base64.urlsafe_b64encode(raw + self._tag(raw)).rstrip(b"=").decode()
            if not link.startswith("-"):
                return link

    def verify(self, link: object) -> bool:
        if not isinstance(link, str) or len(link) != LINK_LEN:
            return False
        try:
            blob = base64.urlsafe_b64decode(link + "=")
        except (ValueError, TypeError):
            return False
        if len(blob) != ID_BYTES + TAG_BYTES or base64.urlsafe_b64encode(blob).rstrip(b"=").decode() != link:
            return False
        return hmac.compare_digest(blob[ID_BYTES:], self._tag(blob[:ID_BYTES]))
