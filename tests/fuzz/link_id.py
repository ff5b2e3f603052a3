"""Meeting link ids: signalling.control.linkids.LinkSigner.verify, which the control plane runs on every link
id from a URL or a join body before any lookup, and the LINK_ID field spec in front of it. verify answers True
or False for any value (text or any JSON value), never raises, and says True only for an id the signer made:
43 base64url characters whose 32 bytes carry the HMAC tag of the first 16.

Input: a mode byte (bit 0: a real id with the fuzzer's bytes XORed over it; bit 1: the rest is JSON), then the
text."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from signalling.control.errors import ApiError
from signalling.control.linkids import LINK_LEN, LinkSigner
from signalling.control.specs import LINK_ID

SECRET = bytes(range(32))
SIGNER = LinkSigner(SECRET)
REAL = SIGNER.new()


def _made_by_signer(link: str) -> bool:
    raw = base64.urlsafe_b64decode(link + "=")
    tag = hmac.new(SECRET, b"castellan-link-v1\x00" + raw[:16], hashlib.sha256).digest()[:16]
    return len(link) == LINK_LEN and base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == link and raw[16:] == tag


def check(data: bytes) -> None:
    if not data:
        return
    mode, rest = data[0], data[1:]
    value: object
    if mode & 2:
        try:
            value = json.loads(rest)
        except (ValueError, RecursionError):
            return
    elif mode & 1:
        value = "".join(chr(ord(c) ^ (rest[i] if i < len(rest) else 0)) for i, c in enumerate(REAL))
    else:
        value = rest.decode("utf-8", "replace")
    ok = SIGNER.verify(value)
    if ok is not True and ok is not False:
        raise AssertionError(f"verify returned {ok!r}")
    if ok and not (isinstance(value, str) and _made_by_signer(value)):
        raise AssertionError(f"verify accepted {value!r}")
    try:
        LINK_ID.check("link", value)
    except ApiError as e:
        if e.status != 400:
            raise AssertionError(f"LINK_ID refused {value!r} with {e.status}") from e
    else:
        if ok is False and isinstance(value, str) and _made_by_signer(value):
            raise AssertionError(f"verify refused the signer's own id {value!r}")


if __name__ == "__main__":
    from tests.fuzz.runner import main

    main("link_id")
