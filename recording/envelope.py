"""Encryption at rest, envelope style: each tenant has a random data key (DEK), kept only wrapped by the tenant key
(KEK) the operator configures; objects are sealed with the DEK in AES-256-GCM chunks. Pure (bytes in, bytes out).

Why chunks: a recording is written and read as a stream (hours of media) without holding it in memory, and a
byte range of it is read without opening what comes before (`open_range`: a player seeking deep into a long
meeting). The construction is STREAM (Hoang, Reyhanitabar, Rogaway, Vizár 2015): each chunk's nonce carries its
index and a "last" flag, and every chunk is bound to the object's name and its random header (AAD), so chunks
cannot be reordered, duplicated, dropped from the end, or moved into another object, recording or tenant without
failing to open. Every chunk but the last holds exactly CHUNK bytes, so chunk i starts at a fixed offset.
Rotating the tenant key rewraps the DEK only (`rewrap`); the media is not re-encrypted.

Layout: MAGIC (8) | prefix (7) | then per chunk: length (4, big-endian) | AES-GCM(chunk) (length bytes, tag
included). The nonce is prefix | index (4) | last (1).
"""

from __future__ import annotations

import base64
import json
import os
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"CASTREC1"
CHUNK = 1 << 20
HEADER = len(MAGIC) + 7
_TAG = 16
_FRAME = 4 + CHUNK + _TAG  # one full chunk on the volume
_WRAP_AAD = b"castellan recording dek v1/"


class EnvelopeError(Exception):
    """A wrong key, a tampered, truncated or misplaced object: never partial plaintext."""


def parse_tenant_key(text: str) -> bytes:
    """A tenant key as configured: 32 bytes, base64 (standard or url-safe, padding optional)."""
    raw = text.strip()
    try:
        key = base64.urlsafe_b64decode(raw.replace("+", "-").replace("/", "_") + "=" * (-len(raw) % 4))
    except (ValueError, TypeError) as e:
        raise EnvelopeError("a tenant key must be 32 bytes in base64") from e
    if len(key) != 32:
        raise EnvelopeError(f"a tenant key must be 32 bytes in base64, got {len(key)} bytes")
    return key


@dataclass(frozen=True)
class WrappedKey:
    tenant: str
    kek_id: str  # which tenant key wrapped it (the operator's label, so rotation can be audited)
    nonce: bytes
    wrapped: bytes

    def to_json(self) -> str:
        return json.dumps({"tenant": self.tenant, "kek_id": self.kek_id, "nonce": self.nonce.hex(),
                           "wrapped": self.wrapped.hex()}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> WrappedKey:
        try:
            d = json.loads(text)
            return cls(tenant=str(d["tenant"]), kek_id=str(d["kek_id"]), nonce=bytes.fromhex(d["nonce"]),
                       wrapped=bytes.fromhex(d["wrapped"]))
        except (ValueError, KeyError, TypeError) as e:
            raise EnvelopeError("unreadable wrapped data key") from e


def new_data_key(tenant: str, kek: bytes, kek_id: str) -> tuple[bytes, WrappedKey]:
    dek = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    return dek, WrappedKey(tenant, kek_id, nonce, AESGCM(kek).encrypt(nonce, dek, _WRAP_AAD + tenant.encode()))


def unwrap(w: WrappedKey, kek: bytes) -> bytes:
    try:
        return AESGCM(kek).decrypt(w.nonce, w.wrapped, _WRAP_AAD + w.tenant.encode())
    except InvalidTag as e:
        raise EnvelopeError(f"tenant {w.tenant}: the configured tenant key does not open its data key") from e


def rewrap(w: WrappedKey, old_kek: bytes, new_kek: bytes, new_kek_id: str) -> WrappedKey:
    dek = unwrap(w, old_kek)
    nonce = os.urandom(12)
    return WrappedKey(w.tenant, new_kek_id, nonce, AESGCM(new_kek).encrypt(nonce, dek, _WRAP_AAD + w.tenant.encode()))


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


def _rechunk(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Pieces of exactly CHUNK bytes (the last one shorter), whatever sizes the caller hands in."""
    buf = bytearray()
    for c in chunks:
        buf.extend(c)
        while len(buf) >= CHUNK:
            yield bytes(buf[:CHUNK])
            del buf[:CHUNK]
    if buf:
        yield bytes(buf)


def seal_stream(dek: bytes, name: str, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The sealed object, piece by piece: header, then (length, ciphertext) per chunk; the last chunk is flagged."""
    prefix = os.urandom(7)
    header = MAGIC + prefix
    yield header
    aead = AESGCM(dek)
    aad = header + name.encode()
    index = 0
    pending: bytes | None = None
    for c in _rechunk(chunks):
        if pending is not None:
            ct = aead.encrypt(_nonce(prefix, index, False), pending, aad)
            yield struct.pack(">I", len(ct)) + ct
            index += 1
        pending = c
    ct = aead.encrypt(_nonce(prefix, index, True), pending or b"", aad)
    yield struct.pack(">I", len(ct)) + ct


def open_stream(dek: bytes, name: str, data: Iterator[bytes] | bytes) -> Iterator[bytes]:
    """Plaintext chunks; raises EnvelopeError on any tampering, truncation, reordering or wrong name/key."""
    buf = bytearray()
    source = iter([data]) if isinstance(data, bytes | bytearray) else data

    def need(n: int) -> bytes | None:
        while len(buf) < n:
            more = next(source, None)
            if more is None:
                return None
            buf.extend(more)
        out = bytes(buf[:n])
        del buf[:n]
        return out

    header = need(len(MAGIC) + 7)
    if header is None or not header.startswith(MAGIC):
        raise EnvelopeError(f"{name}: not a sealed recording object")
    prefix = header[len(MAGIC):]
    aead = AESGCM(dek)
    aad = header + name.encode()
    index = 0
    while True:
        size = need(4)
        if size is None:
            raise EnvelopeError(f"{name}: truncated (no final chunk)")
        (n,) = struct.unpack(">I", size)
        if n < 16 or n > CHUNK + 16:
            raise EnvelopeError(f"{name}: corrupt chunk length")
        ct = need(n)
        if ct is None:
            raise EnvelopeError(f"{name}: truncated chunk")
        for last in (False, True):
            try:
                pt = aead.decrypt(_nonce(prefix, index, last), ct, aad)
            except InvalidTag:
                continue
            break
        else:
            raise EnvelopeError(f"{name}: chunk {index} does not authenticate (tampered, moved or wrong key)")
        yield pt
        if last:
            if need(1) is not None:
                raise EnvelopeError(f"{name}: data after the final chunk")
            return
        index += 1


def seal(dek: bytes, name: str, data: bytes) -> bytes:
    return b"".join(seal_stream(dek, name, (data[i:i + CHUNK] for i in range(0, len(data), CHUNK))))


def open_sealed(dek: bytes, name: str, data: bytes) -> bytes:
    return b"".join(open_stream(dek, name, data))


# -- ranged reads: the fixed layout lets a reader open only the chunks a byte range touches ----------------------
def sealed_size(plain_size: int) -> int:
    """The size on the volume of an object of `plain_size` plaintext bytes (an empty one is one empty chunk)."""
    if plain_size < 0:
        raise ValueError("a size is not negative")
    chunks = max(1, -(-plain_size // CHUNK))
    return HEADER + chunks * (4 + _TAG) + plain_size


def open_range(dek: bytes, name: str, read_at: Callable[[int, int], bytes], stored_size: int, plain_size: int,
               first: int, last: int) -> Iterator[bytes]:
    """Plaintext bytes first..last (inclusive) of a sealed object of `plain_size` bytes (what the archive recorded
    when it was sealed), opening only the chunks that hold them. `read_at(offset, length)` reads the stored object;
    `stored_size` is its size on the volume. Each chunk is authenticated under its index and, for the one the
    recorded size makes the last, the final flag: a chunk moved, duplicated or taken from another object does not
    open, and an object cut or extended does not have the size the record says. Raises EnvelopeError, before
    yielding anything of a chunk that fails."""
    if not 0 <= first <= last < plain_size and not (plain_size == 0 and (first, last) == (0, -1)):
        raise ValueError(f"range {first}-{last} is outside {plain_size} bytes")
    if stored_size != sealed_size(plain_size):
        raise EnvelopeError(f"{name}: {stored_size} bytes on the volume, not the {sealed_size(plain_size)} of its "
                            f"recorded {plain_size} (cut, extended or replaced)")
    header = read_at(0, HEADER)
    if len(header) != HEADER or not header.startswith(MAGIC):
        raise EnvelopeError(f"{name}: not a sealed recording object")
    prefix = header[len(MAGIC):]
    aead = AESGCM(dek)
    aad = header + name.encode()
    final = max(0, -(-plain_size // CHUNK) - 1)
    for index in range(first // CHUNK if plain_size else 0, (last // CHUNK if plain_size else 0) + 1):
        is_last = index == final
        n = (plain_size - index * CHUNK if is_last else CHUNK) + _TAG
        frame = read_at(HEADER + index * _FRAME, 4 + n)
        if len(frame) != 4 + n or struct.unpack(">I", frame[:4])[0] != n:
            raise EnvelopeError(f"{name}: chunk {index} is not where the layout puts it (cut or rewritten)")
        try:
            pt = aead.decrypt(_nonce(prefix, index, is_last), frame[4:], aad)
        except InvalidTag:
            raise EnvelopeError(f"{name}: chunk {index} does not authenticate (tampered, moved or wrong key)") from None
        base = index * CHUNK
        piece = pt[max(0, first - base):last + 1 - base]
        if piece:
            yield piece
