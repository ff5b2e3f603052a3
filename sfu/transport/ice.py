"""ICE-lite on the node's one UDP port (RFC 8445 §2.5, RFC 8489, RFC 7675).

The node never initiates checks: it answers Binding requests. A request's USERNAME (`<local ufrag>:<remote
ufrag>`) names the participant; MESSAGE-INTEGRITY (keyed with our ice-pwd) and FINGERPRINT prove it. The
address a valid request came from becomes the participant's media address, so NAT rebinding and ICE restarts
move the session instead of breaking it. Each valid request also refreshes consent (RFC 7675).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from aioice import stun

K = TypeVar("K")
MAGIC_COOKIE = 0x2112A442


@dataclass
class IceCredentials(Generic[K]):
    ufrag: str
    pwd: str
    owner: K
    last_consent: float = 0.0
    nominated: bool = False


def new_credentials() -> tuple[str, str]:
    # ufrag >= 4 chars, pwd >= 22 chars of ice-char (RFC 8839); token_hex only yields safe characters
    return secrets.token_hex(4), secrets.token_hex(16)


@dataclass
class StunOutcome(Generic[K]):
    """What to do with one datagram: reply (maybe), and, when valid, whose it is."""

    response: bytes | None = None
    owner: K | None = None
    nominated: bool = False
    drop_reason: str | None = None
    attrs: dict[int, bytes] = field(default_factory=dict)


class IceLite(Generic[K]):
    def __init__(self) -> None:
        self._by_ufrag: dict[str, IceCredentials[K]] = {}

    def register(self, ufrag: str, pwd: str, owner: K) -> IceCredentials[K]:
        creds = IceCredentials(ufrag=ufrag, pwd=pwd, owner=owner, last_consent=time.monotonic())
        self._by_ufrag[ufrag] = creds
        return creds

    def unregister(self, ufrag: str) -> None:
        self._by_ufrag.pop(ufrag, None)

    def handle(self, data: bytes, addr: tuple[str, int]) -> StunOutcome[K]:
        if len(data) < 20 or int.from_bytes(data[4:8], "big") != MAGIC_COOKIE:
            return StunOutcome(drop_reason="stun_malformed")
        try:
            msg = stun.parse_message(data)
        except (ValueError, IndexError, KeyError, UnicodeDecodeError) as e:
            # aioice raises ValueError on a bad FINGERPRINT and on truncated attributes
            return StunOutcome(drop_reason="stun_fingerprint" if "fingerprint" in str(e).lower() else "stun_malformed")
        except Exception:  # noqa: BLE001 - any parser failure on hostile input is a counted drop
            return StunOutcome(drop_reason="stun_malformed")
        if msg.message_class != stun.Class.REQUEST:
            return StunOutcome(drop_reason="stun_not_request")  # lite agents send no requests, so expect no responses
        if msg.message_method != stun.Method.BINDING:
            return StunOutcome(response=self._error(msg, 400, "Bad Request", None), drop_reason="stun_method")
        if "FINGERPRINT" not in msg.attributes:
            return StunOutcome(drop_reason="stun_no_fingerprint")
        username = msg.attributes.get("USERNAME")
        if not isinstance(username, str) or ":" not in username:
            return StunOutcome(response=self._error(msg, 400, "Bad Request", None), drop_reason="stun_no_username")
        creds = self._by_ufrag.get(username.split(":", 1)[0])
        if creds is None:
            return StunOutcome(drop_reason="stun_unknown_ufrag")
        if not msg.check_message_integrity(creds.pwd.encode()):
            return StunOutcome(response=self._error(msg, 401, "Unauthorized", None), drop_reason="stun_integrity")
        if "PRIORITY" not in msg.attributes:
            return StunOutcome(response=self._error(msg, 400, "Bad Request", creds.pwd), drop_reason="stun_no_priority")
        if "ICE-CONTROLLED" in msg.attributes:
            # a lite agent is always controlled: the peer must take the controlling role (RFC 8445 §7.3.1.1)
            return StunOutcome(response=self._error(msg, 487, "Role Conflict", creds.pwd), drop_reason="stun_role")
        creds.last_consent = time.monotonic()
        nominated = "USE-CANDIDATE" in msg.attributes
        creds.nominated = creds.nominated or nominated
        resp = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, transaction_id=msg.transaction_id)
        resp.attributes["XOR-MAPPED-ADDRESS"] = addr
        resp.add_message_integrity(creds.pwd.encode())
        return StunOutcome(response=bytes(resp), owner=creds.owner, nominated=nominated)

    @staticmethod
    def _error(msg: stun.Message, code: int, reason: str, pwd: str | None) -> bytes:
        resp = stun.Message(stun.Method.BINDING, stun.Class.ERROR, transaction_id=msg.transaction_id)
        resp.attributes["ERROR-CODE"] = (code, reason)
        if pwd is not None:
            resp.add_message_integrity(pwd.encode())
        else:
            resp.add_fingerprint()
        return bytes(resp)
