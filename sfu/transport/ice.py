"""ICE-lite on the node's one UDP port (RFC 8445 §2.5, RFC 8489, RFC 7675).

The node never initiates checks: it answers Binding requests. A request's USERNAME (`<local ufrag>:<remote
ufrag>`) names the participant; MESSAGE-INTEGRITY (keyed with our ice-pwd) and FINGERPRINT prove it. The
address a valid request came from becomes the participant's media address, so NAT rebinding and ICE restarts
move the session instead of breaking it. Each valid request also refreshes consent (RFC 7675).

A valid request is only *fresh* once: each participant's credentials remember the transaction ids of its
valid requests for the replay window (the consent window, RFC 7675 §5.1: consent rests on fresh transactions)
and at most MAX_REMEMBERED of them. The same transaction again from the same address is a retransmission
(RFC 8489 §6.2.1: answered again, but it neither refreshes consent nor moves anything); from any other
address it is a replay (a captured request sent again by someone else) and a counted drop, `stun_replayed`,
with no answer, so a copied check cannot take the media path.

Past the window a copied check is fresh again, so a fresh check alone never moves an established path: the
node verifies the new address with a Binding request of its own (`verify`), signed with the participant's
ice-pwd from its offer, and moves only when an authenticated response comes back from that very address
(`StunOutcome.verified`) — the RFC 7675 consent idea. A copier has no such password, and its replay draws one
unanswerable request (the node's own, at most MAX_PROBES per participant at a time) and nothing else.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from aioice import stun

K = TypeVar("K")
MAGIC_COOKIE = 0x2112A442
REPLAY_WINDOW = 30.0  # seconds a transaction id is remembered (the node passes its consent timeout)
MAX_REMEMBERED = 1024  # transaction ids per participant at most (a browser sends a few per second at most)
PROBE_TIMEOUT = 5.0  # seconds a path verification waits for its response
MAX_PROBES = 4  # path verifications per participant in flight at most


@dataclass
class IceCredentials(Generic[K]):
    ufrag: str
    pwd: str
    owner: K
    last_consent: float = 0.0
    nominated: bool = False
    # transaction id -> (when first seen, from where), oldest first: what makes a request fresh
    seen: OrderedDict[bytes, tuple[float, tuple[str, int]]] = field(default_factory=OrderedDict)
    # the node's own checks in flight: transaction id -> (sent at, address checked, the remote's ice-pwd)
    probes: OrderedDict[bytes, tuple[float, tuple[str, int], str]] = field(default_factory=OrderedDict)


def new_credentials() -> tuple[str, str]:
    # ufrag >= 4 chars, pwd >= 22 chars of ice-char (RFC 8839); token_hex only yields safe characters
    return secrets.token_hex(4), secrets.token_hex(16)


@dataclass
class StunOutcome(Generic[K]):
    """What to do with one datagram: reply (maybe), and, when valid, whose it is. `fresh`: a valid request
    whose transaction id was never seen before (only such a request may bind or move the media address)."""

    response: bytes | None = None
    owner: K | None = None
    nominated: bool = False
    fresh: bool = False
    verified: tuple[str, int] | None = None  # an address that answered the node's own check (see verify)
    drop_reason: str | None = None
    attrs: dict[int, bytes] = field(default_factory=dict)


class IceLite(Generic[K]):
    def __init__(self, replay_window: float = REPLAY_WINDOW, max_remembered: int = MAX_REMEMBERED) -> None:
        self._by_ufrag: dict[str, IceCredentials[K]] = {}
        self._probes: dict[bytes, IceCredentials[K]] = {}  # the node's checks in flight, by transaction id
        self.replay_window = replay_window
        self.max_remembered = max_remembered

    def register(self, ufrag: str, pwd: str, owner: K) -> IceCredentials[K]:
        creds = IceCredentials(ufrag=ufrag, pwd=pwd, owner=owner, last_consent=time.monotonic())
        self._by_ufrag[ufrag] = creds
        return creds

    def unregister(self, ufrag: str) -> None:
        creds = self._by_ufrag.pop(ufrag, None)
        if creds is not None:
            for tid in creds.probes:
                self._probes.pop(tid, None)

    def verify(self, ufrag: str, remote_ufrag: str, remote_pwd: str, addr: tuple[str, int],
               now: float | None = None) -> bytes | None:
        """The node's own Binding request to `addr` for the participant of `ufrag` (send it there), or None
        when a check of that address is already in flight, or the participant has no remote credentials.
        Its response, authenticated with `remote_pwd` and from `addr`, comes out of `handle` as `verified`."""
        creds = self._by_ufrag.get(ufrag)
        if creds is None or not remote_ufrag or not remote_pwd:
            return None
        now = time.monotonic() if now is None else now
        for tid, (sent, _, _) in list(creds.probes.items()):
            if now - sent > PROBE_TIMEOUT:
                del creds.probes[tid]
                self._probes.pop(tid, None)
        if any(a == addr for _, a, _ in creds.probes.values()):
            return None
        while len(creds.probes) >= MAX_PROBES:
            old, _ = creds.probes.popitem(last=False)
            self._probes.pop(old, None)
        msg = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
        msg.attributes["USERNAME"] = f"{remote_ufrag}:{ufrag}"
        msg.attributes["PRIORITY"] = 1853824767
        msg.attributes["ICE-CONTROLLED"] = secrets.randbits(64)  # a lite agent is always controlled
        msg.add_message_integrity(remote_pwd.encode())
        msg.add_fingerprint()
        creds.probes[msg.transaction_id] = (now, addr, remote_pwd)
        self._probes[msg.transaction_id] = creds
        return bytes(msg)

    def _verified(self, msg: stun.Message, addr: tuple[str, int], now: float) -> StunOutcome[K]:
        """A Binding success response: the answer to one of the node's own checks, or a stray."""
        creds = self._probes.get(msg.transaction_id)
        probe = creds.probes.get(msg.transaction_id) if creds is not None else None
        if creds is None or probe is None or now - probe[0] > PROBE_TIMEOUT:
            return StunOutcome(drop_reason="stun_unexpected_response")
        _, checked, remote_pwd = probe
        if addr != checked:
            return StunOutcome(drop_reason="stun_response_address")
        if "FINGERPRINT" not in msg.attributes or not msg.check_message_integrity(remote_pwd.encode()):
            return StunOutcome(drop_reason="stun_integrity")
        del creds.probes[msg.transaction_id]
        del self._probes[msg.transaction_id]
        return StunOutcome(owner=creds.owner, verified=addr)

    def handle(self, data: bytes, addr: tuple[str, int], now: float | None = None) -> StunOutcome[K]:
        """One datagram's outcome; `now` (time.monotonic() by default) dates what it refreshes and remembers."""
        if len(data) < 20 or int.from_bytes(data[4:8], "big") != MAGIC_COOKIE:
            return StunOutcome(drop_reason="stun_malformed")
        try:
            msg = stun.parse_message(data)
        except (ValueError, IndexError, KeyError, UnicodeDecodeError) as e:
            # aioice raises ValueError on a bad FINGERPRINT and on truncated attributes
            return StunOutcome(drop_reason="stun_fingerprint" if "fingerprint" in str(e).lower() else "stun_malformed")
        except Exception:  # noqa: BLE001 - any parser failure on hostile input is a counted drop
            return StunOutcome(drop_reason="stun_malformed")
        if msg.message_class == stun.Class.RESPONSE and msg.message_method == stun.Method.BINDING:
            return self._verified(msg, addr, time.monotonic() if now is None else now)
        if msg.message_class != stun.Class.REQUEST:
            return StunOutcome(drop_reason="stun_not_request")
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
        now = time.monotonic() if now is None else now
        first = self._remember(creds, msg.transaction_id, addr, now)
        if first is not None and first != addr:
            return StunOutcome(drop_reason="stun_replayed")  # no answer: never reflect to a copier's address
        resp = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, transaction_id=msg.transaction_id)
        resp.attributes["XOR-MAPPED-ADDRESS"] = addr
        resp.add_message_integrity(creds.pwd.encode())
        if first is not None:
            return StunOutcome(response=bytes(resp), owner=creds.owner)  # a retransmission: answered, not fresh
        creds.last_consent = now
        nominated = "USE-CANDIDATE" in msg.attributes
        creds.nominated = creds.nominated or nominated
        return StunOutcome(response=bytes(resp), owner=creds.owner, nominated=nominated, fresh=True)

    def _remember(self, creds: IceCredentials[K], tid: bytes, addr: tuple[str, int],
                  now: float) -> tuple[str, int] | None:
        """Notes a valid request's transaction id; returns the address it was first seen from if it was seen
        within the replay window, else None (fresh). Forgets ids older than the window, and the oldest beyond
        max_remembered."""
        seen = creds.seen
        while seen:
            oldest = next(iter(seen.values()))
            if now - oldest[0] <= self.replay_window:
                break
            seen.popitem(last=False)
        known = seen.get(tid)
        if known is not None:
            return known[1]
        seen[tid] = (now, addr)
        while len(seen) > self.max_remembered:
            seen.popitem(last=False)
        return None

    @staticmethod
    def _error(msg: stun.Message, code: int, reason: str, pwd: str | None) -> bytes:
        resp = stun.Message(stun.Method.BINDING, stun.Class.ERROR, transaction_id=msg.transaction_id)
        resp.attributes["ERROR-CODE"] = (code, reason)
        if pwd is not None:
            resp.add_message_integrity(pwd.encode())
        else:
            resp.add_fingerprint()
        return bytes(resp)
