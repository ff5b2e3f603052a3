"""Encryption at rest: nothing reaches the volume in the clear; a tenant's objects open only with its key; an
attacker with write access to the volume cannot alter, truncate, reorder, swap or move an object undetected, nor
name an object outside the store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recording import envelope
from recording.envelope import EnvelopeError, open_sealed, parse_tenant_key, rewrap, seal
from recording.store import LocalVolumeStore, TenantVault

KEK_A = os.urandom(32)
KEK_B = os.urandom(32)


def _vault(root: Path) -> TenantVault:
    return TenantVault(LocalVolumeStore(root), {"acme": ("acme-2026", KEK_A), "globex": ("g-1", KEK_B)})


def test_objects_are_sealed_on_the_volume_and_round_trip(tmp_path: Path) -> None:
    v = _vault(tmp_path)
    secret = b"confidential board minutes " * 100_000  # > 1 chunk
    v.put("acme", "rec-1/chat.jsonl", [secret])
    raw = (tmp_path / "acme" / "rec-1" / "chat.jsonl").read_bytes()
    assert b"confidential" not in raw and b"confidential" not in (tmp_path / "acme" / "dek.json").read_bytes()
    assert v.read("acme", "rec-1/chat.jsonl") == secret
    assert _vault(tmp_path).read("acme", "rec-1/chat.jsonl") == secret  # a fresh process unwraps the stored DEK


def test_the_wrong_tenant_key_opens_nothing(tmp_path: Path) -> None:
    _vault(tmp_path).put("acme", "r/f", [b"x"])
    wrong = TenantVault(LocalVolumeStore(tmp_path), {"acme": ("acme-2026", KEK_B)})
    with pytest.raises(EnvelopeError, match="does not open its data key"):
        wrong.read("acme", "r/f")


def test_a_tenant_without_a_configured_key_stores_nothing(tmp_path: Path) -> None:
    with pytest.raises(EnvelopeError, match="no tenant key configured"):
        _vault(tmp_path).put("initech", "r/f", [b"x"])
    assert not (tmp_path / "initech").exists()


@pytest.mark.parametrize("attack", ["flip", "truncate", "drop_last_chunk", "append", "swap_chunks"])
def test_tampering_on_the_volume_is_detected(attack: str) -> None:
    dek = os.urandom(32)
    data = os.urandom(envelope.CHUNK * 2 + 5)
    sealed = bytearray(seal(dek, "acme/r/f", data))
    head, n = 15, 4 + envelope.CHUNK + 16
    if attack == "flip":
        sealed[len(sealed) // 2] ^= 1
    elif attack == "truncate":
        del sealed[-3:]
    elif attack == "drop_last_chunk":
        del sealed[head + 2 * n:]
    elif attack == "append":
        sealed += b"\0" * 20
    else:
        first, second = sealed[head:head + n], sealed[head + n:head + 2 * n]
        sealed[head:head + 2 * n] = second + first
    with pytest.raises(EnvelopeError):
        open_sealed(dek, "acme/r/f", bytes(sealed))


def test_an_object_moved_to_another_name_or_tenant_does_not_open(tmp_path: Path) -> None:
    v = _vault(tmp_path)
    v.put("acme", "r1/a.webm", [b"media of r1"])
    v.put("acme", "r2/a.webm", [b"media of r2"])
    (tmp_path / "acme" / "r2" / "a.webm").write_bytes((tmp_path / "acme" / "r1" / "a.webm").read_bytes())
    with pytest.raises(EnvelopeError, match="does not authenticate"):
        v.read("acme", "r2/a.webm")


@pytest.mark.parametrize("name", ["../globex/r/f", "r/../../x", "/etc/passwd", "", "r//f", ".hidden", "a" * 200, "dek.json"])
def test_object_names_cannot_leave_the_store(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="invalid object name"):
        _vault(tmp_path).put("acme", name, [b"x"])


def test_rotating_the_tenant_key_rewraps_only_the_data_key() -> None:
    dek, w = envelope.new_data_key("acme", KEK_A, "k1")
    w2 = rewrap(w, KEK_A, KEK_B, "k2")
    assert envelope.unwrap(w2, KEK_B) == dek and w2.kek_id == "k2"
    with pytest.raises(EnvelopeError):
        envelope.unwrap(w2, KEK_A)


def test_tenant_keys_are_parsed_strictly() -> None:
    import base64

    k = os.urandom(32)
    assert parse_tenant_key(base64.b64encode(k).decode()) == k
    assert parse_tenant_key(base64.urlsafe_b64encode(k).decode().rstrip("=")) == k
    for bad in ["", "abc", base64.b64encode(os.urandom(16)).decode()]:
        with pytest.raises(EnvelopeError, match="32 bytes"):
            parse_tenant_key(bad)


# -- ranged reads (a player seeking): only the chunks a range touches are opened, and each still authenticates ----
FRAME = 4 + envelope.CHUNK + 16  # one full chunk on the volume


class CountingStore(LocalVolumeStore):
    """The real local volume, counting what ranged reads take from it."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.read_bytes = 0

    def read_at(self, key: str, offset: int, length: int) -> bytes:
        out = super().read_at(key, offset, length)
        self.read_bytes += len(out)
        return out


def _ranged(tmp: Path, size: int, name: str = "rec-1/cam.webm") -> tuple[TenantVault, CountingStore, bytes, Path]:
    store = CountingStore(tmp)
    v = TenantVault(store, {"acme": ("acme-2026", KEK_A)})
    data = os.urandom(size)
    v.put("acme", name, [data])
    return v, store, data, tmp / "acme" / name


def _range(v: TenantVault, name: str, size: int, first: int, last: int) -> bytes:
    return b"".join(v.get_range("acme", name, size, first, last))


def test_a_range_reads_only_the_chunks_it_touches_and_matches_the_plaintext(tmp_path: Path) -> None:
    C = envelope.CHUNK
    size = 7 * C + 777
    v, store, data, sealed = _ranged(tmp_path, size)
    assert sealed.stat().st_size == envelope.sealed_size(size)
    for first, last in ((0, 0), (0, C - 1), (C - 1, C), (3 * C + 5, 5 * C + 9), (7 * C, size - 1),
                        (size - 1, size - 1), (size - (1 << 20), size - 1), (0, size - 1)):
        store.read_bytes = 0
        assert _range(v, "rec-1/cam.webm", size, first, last) == data[first:last + 1], (first, last)
        touched = last // C - first // C + 1
        assert store.read_bytes <= envelope.HEADER + touched * FRAME, (first, last, store.read_bytes)
    # the last byte of a 7-MiB object: the header and the final chunk, nothing before it
    store.read_bytes = 0
    _range(v, "rec-1/cam.webm", size, size - 1, size - 1)
    assert store.read_bytes == envelope.HEADER + 4 + 777 + 16
    # edge sizes: empty, exactly one chunk, one byte more
    for n in (0, 1, C, C + 1, 2 * C):
        v2, _, d2, _ = _ranged(tmp_path / f"n{n}", n, "rec-2/a.webm")
        assert _range(v2, "rec-2/a.webm", n, 0, n - 1) == d2
        if n:
            assert _range(v2, "rec-2/a.webm", n, n - 1, n - 1) == d2[-1:]
    with pytest.raises(ValueError, match="outside"):
        _range(v, "rec-1/cam.webm", size, size, size)


@pytest.mark.parametrize("attack", ["reorder", "duplicate", "from_another_recording", "whole_object_swapped",
                                    "truncate", "truncate_and_claim_the_shorter_size", "append", "flip"])
def test_a_ranged_read_of_a_tampered_object_fails_to_authenticate(tmp_path: Path, attack: str) -> None:
    """Someone with write access to the volume rearranges chunks so that the range a player asks for holds other
    (authentic) ciphertext: every arrangement fails, none yields a byte of the wrong chunk."""
    C = envelope.CHUNK
    size = 4 * C + 100
    v, _, data, sealed = _ranged(tmp_path, size, "rec-1/cam.webm")
    other = TenantVault(LocalVolumeStore(tmp_path), {"acme": ("acme-2026", KEK_A)})
    other.put("acme", "rec-2/cam.webm", [os.urandom(size)])  # the same tenant's key, the same layout
    raw = bytearray(sealed.read_bytes())
    theirs = (tmp_path / "acme" / "rec-2" / "cam.webm").read_bytes()

    def frame(buf: bytes | bytearray, i: int) -> bytes:
        return bytes(buf[envelope.HEADER + i * FRAME:envelope.HEADER + (i + 1) * FRAME])

    def put_frame(i: int, f: bytes) -> None:
        raw[envelope.HEADER + i * FRAME:envelope.HEADER + (i + 1) * FRAME] = f

    claimed, first, last = size, C + 10, 2 * C + 10  # chunks 1 and 2
    if attack == "reorder":
        f1, f2 = frame(raw, 1), frame(raw, 2)
        put_frame(1, f2)
        put_frame(2, f1)
    elif attack == "duplicate":
        put_frame(2, frame(raw, 1))
    elif attack == "from_another_recording":
        put_frame(1, frame(theirs, 1))
    elif attack == "whole_object_swapped":
        raw[:] = theirs
    elif attack == "truncate":  # the final chunk dropped: the archive's record still says `size`
        del raw[envelope.HEADER + 4 * FRAME:]
        first, last = 3 * C, 3 * C + 5
    elif attack == "truncate_and_claim_the_shorter_size":  # even a record that agreed: chunk 3 is not final
        del raw[envelope.HEADER + 4 * FRAME:]
        claimed, first, last = 4 * C, 3 * C, 4 * C - 1
    elif attack == "append":
        raw += b"\0" * 64
    else:
        raw[envelope.HEADER + 2 * FRAME + 100] ^= 1
    sealed.write_bytes(bytes(raw))
    got = []
    with pytest.raises(EnvelopeError):
        for piece in v.get_range("acme", "rec-1/cam.webm", claimed, first, last):
            got.append(piece)
    # at most the untouched chunk before the altered one came out, and only its own true bytes
    assert b"".join(got) == data[first:first + len(b"".join(got))]
    assert len(b"".join(got)) <= C


def test_two_writers_creating_a_tenants_first_data_key_on_one_volume_agree_on_one(tmp_path: Path) -> None:
    """Two pools on a shared volume seal a new tenant's first objects at once: both must end up under the one
    data key that is stored, or the loser's objects would never open again."""
    import threading

    for round_ in range(8):
        root = tmp_path / f"v{round_}"
        vaults = [_vault(root) for _ in range(4)]
        start = threading.Barrier(len(vaults))

        def seal(i: int, v: TenantVault, start: threading.Barrier) -> None:
            start.wait()
            v.put("acme", f"rec-{i}/a.webm", [f"media {i}".encode()])

        threads = [threading.Thread(target=seal, args=(i, v, start)) for i, v in enumerate(vaults)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        fresh = _vault(root)  # what anyone reads later: the stored key
        assert [fresh.read("acme", f"rec-{i}/a.webm") for i in range(4)] == [f"media {i}".encode() for i in range(4)]
        assert [p.name for p in (root / "acme").iterdir() if p.name.startswith(".")] == []  # no temporary left
