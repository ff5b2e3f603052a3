"""Play tickets: how a `<video src>` in the console fetches one recorded file without the admin key.

A media element cannot send `Authorization: Bearer`, and the admin key must never sit in a URL (access logs,
history, Referer). So the console POSTs, with its key, for a ticket naming one file of one recording of one
tenant; the grant is audited then (recording.accessed, purpose play, the ticket's id). The ticket goes in the
media URL's path and answers only for that tenant, recording and file, until it expires (TTL); it is not single
use because a player fetches a file in several Range requests (seeking), which are that one playback.

Stateless and the same on every control-plane replica: an HMAC-SHA256 under a key derived (HKDF, its own label)
from the tenant's recording key, so a ticket is bound to the tenant by its key, and a replica that has the tenant
keys file can check it. It carries the minting admin key's id: revoking that key ends its tickets at once.

Layout, 60 bytes as 80 base64url characters: expiry (u64 BE, Unix s) · id (12 random bytes) · admin key id
(8 bytes) · MAC over all that and the tenant, recording and file names.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TTL = 900  # seconds: a playback, with its seeks; the console asks for a new one when a ticket has expired
LENGTH = 80  # characters
_INFO = b"castellan recording play ticket v1"
_HEAD = struct.Struct(">Q12s8s")


class TicketRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class PlayTicket:
    id: str  # hex; the audit record of the grant names it
    key_id: str  # the admin key that minted it
    expires_at: int


def ticket_key(tenant_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(tenant_key)


def _mac(key: bytes, head: bytes, tenant: str, rec: str, name: str) -> bytes:
    return hmac.new(key, b"\0".join([head, tenant.encode(), rec.encode(), name.encode()]), hashlib.sha256).digest()


def mint(key: bytes, tenant: str, rec: str, name: str, key_id: str, now: float,
         ttl: int = TTL) -> tuple[str, PlayTicket]:
    t = PlayTicket(os.urandom(12).hex(), key_id, int(now) + ttl)
    head = _HEAD.pack(t.expires_at, bytes.fromhex(t.id), bytes.fromhex(key_id))
    raw = head + _mac(key, head, tenant, rec, name)
    return base64.urlsafe_b64encode(raw).decode(), t


def check(key: bytes, ticket: str, tenant: str, rec: str, name: str, now: float) -> PlayTicket:
    """The ticket when it was minted for exactly this tenant, recording and file and has not expired."""
    try:
        raw = base64.urlsafe_b64decode(ticket.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = b""
    if len(raw) != _HEAD.size + 32:
        raise TicketRefused(403, "invalid_ticket", "not a play ticket")
    head, mac = raw[:_HEAD.size], raw[_HEAD.size:]
    if not hmac.compare_digest(mac, _mac(key, head, tenant, rec, name)):
        raise TicketRefused(403, "invalid_ticket", "this play ticket is not for this file of this recording")
    expires_at, tid, key_id = _HEAD.unpack(head)
    if now >= expires_at:
        raise TicketRefused(410, "ticket_expired", "this play ticket has expired: ask for a new one")
    return PlayTicket(tid.hex(), key_id.hex(), expires_at)
