"""The device cookie: a random browser id, signed by the control plane (HMAC-SHA256 with a key from the store),
so a browser that entered a link's password correctly is known on that link even when its shared address (a
hospital's NAT) is flooded with wrong guesses. It identifies a browser, not a person, and carries nothing else.

`castellan_device=<id>.<mac>`: HttpOnly (scripts never see it), SameSite=Strict, Path=/v1/join (sent with join
requests only), Secure whenever the control plane is reached over https; a year long. A cookie whose signature
does not verify is ignored like no cookie (a new one is issued at the next correct entry).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

COOKIE = "castellan_device"
PATH = "/v1/join"
MAX_AGE = 365 * 24 * 3600


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class DeviceCookies:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the device cookie key needs at least 16 bytes")
        self._key = key

    def _mac(self, device: str) -> str:
        return _b64(hmac.new(self._key, b"device:" + device.encode(), hashlib.sha256).digest()[:16])

    def new(self) -> str:
        """A fresh device id (128 random bits)."""
        return _b64(secrets.token_bytes(16))

    def value(self, device: str) -> str:
        return f"{device}.{self._mac(device)}"

    def verify(self, value: str | None) -> str | None:
        """The device id of a cookie value, or None when absent or not signed by this control plane."""
        if not value or len(value) > 64:
            return None
        device, _, mac = value.partition(".")
        if len(device) != 22 or not hmac.compare_digest(mac.encode(), self._mac(device).encode()):
            return None
        return device

    def set_cookie(self, device: str, secure: bool) -> str:
        """The Set-Cookie header value for this device."""
        return (f"{COOKIE}={self.value(device)}; Max-Age={MAX_AGE}; Path={PATH}; HttpOnly; SameSite=Strict"
                + ("; Secure" if secure else ""))
