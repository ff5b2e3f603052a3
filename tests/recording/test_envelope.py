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
