"""The transparency log's key outside the database: a PEM file, or an Ed25519 key generated inside a PKCS#11 token
(SoftHSM from Debian's softhsm2) that signs heads without ever leaving it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from residency.errors import InvalidInput
from residency.heads import HeadRejected, HeldHeads, parse_head, sign_head
from residency.logkey import KeySigner, Pkcs11Config, Pkcs11Signer, generate_pkcs11_key
from residency.signing import key_id, load_or_create_signing_key
from residency.transparency import consistency_proof, leaf_hash, root

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
LEAVES = [leaf_hash(str(i).encode()) for i in range(10)]


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pkcs11Config]:
    """A fresh SoftHSM token. SoftHSM reads SOFTHSM2_CONF when the library initialises: once per process, so
    one token for the module."""
    assert shutil.which("softhsm2-util") and os.path.exists(MODULE), "softhsm2 is installed by scripts/setup.sh --test"
    d = tmp_path_factory.mktemp("softhsm")
    (d / "tokens").mkdir()
    conf = d / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {d / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "castellan-log", "--so-pin", "1234",
                    "--pin", "5678"], check=True, capture_output=True)
    config = Pkcs11Config(module=MODULE, token="castellan-log", pin="5678", label="log-key")
    generate_pkcs11_key(config)
    yield config
    if old is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = old


def test_heads_signed_in_softhsm_verify_with_its_public_key(token: Pkcs11Config, tmp_path: Path) -> None:
    signer = Pkcs11Signer(token)
    try:
        first = sign_head(signer, "tenant:acme", 4, root(LEAVES[:4]))
        second = sign_head(signer, "tenant:acme", 10, root(LEAVES))
    finally:
        signer.close()
    public = signer.public_key()
    assert key_id(public) == signer.key_id == first.key_id
    assert parse_head(first.to_line(), public) == first
    held = HeldHeads(tmp_path / "heads.jsonl", public)
    held.accept(first, [])
    held.accept(second, consistency_proof(4, LEAVES))
    assert [h.tree_size for h in HeldHeads(tmp_path / "heads.jsonl", public).heads] == [4, 10]
    # a head signed by any other key (the operator's database-side key, say) is refused
    other = sign_head(KeySigner(Ed25519PrivateKey.generate()), "tenant:acme", 10, root(LEAVES))
    with pytest.raises(HeadRejected) as e:
        parse_head(other.to_line(), public)
    assert e.value.code == "head_unknown_key"


def test_the_private_key_cannot_be_read_out_of_the_token(token: Pkcs11Config) -> None:
    import pkcs11
    from pkcs11 import Attribute, KeyType, ObjectClass

    with pkcs11.lib(MODULE).get_token(token_label=token.token).open(user_pin=token.pin) as s:
        key = s.get_key(ObjectClass.PRIVATE_KEY, KeyType.EC_EDWARDS, label=token.label)
        assert key[Attribute.EXTRACTABLE] is False and key[Attribute.SENSITIVE] is True
        with pytest.raises(pkcs11.PKCS11Error):
            key[Attribute.VALUE]


def test_a_wrong_pin_or_label_is_a_clear_error(token: Pkcs11Config) -> None:
    for bad in (Pkcs11Config(MODULE, token.token, "0000", token.label),
                Pkcs11Config(MODULE, token.token, token.pin, "no-such-key"),
                Pkcs11Config(MODULE, "no-such-token", token.pin, token.label)):
        with pytest.raises(InvalidInput) as e:
            Pkcs11Signer(bad)
        assert e.value.code == "log_key_unavailable"


def test_a_key_file_signs_and_a_missing_one_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "log-key.pem"
    load_or_create_signing_key(path)
    signer = KeySigner.from_file(path)
    head = sign_head(signer, "tenant:acme", 10, root(LEAVES))
    assert parse_head(head.to_line(), signer.public_key()) == head
    with pytest.raises(InvalidInput) as e:
        KeySigner.from_file(tmp_path / "absent.pem")
    assert e.value.code == "log_key_missing"
