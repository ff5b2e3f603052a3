"""The pool's side of the recorder handover (docs/recording.md, "Handing the link secret to the recorder"): the
sink answers `<sink>/attest` with the tenant's recorder key's signature over the job's tenant, room and participant
and the leaf key the page sends — and nothing else: a wrong token, a malformed key, a pool without a recorder key
are refused and counted. The members' side (signalling/client/e2ee/handover.js, in Node.js) verifies exactly what
Python signs."""

from __future__ import annotations

import base64
import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from recording.pool.attestation import (
    RecorderKeys,
    attest,
    attestation_message,
    b64u,
    new_key,
    private_key,
    public_key,
)
from recording.sink import Sink, SinkServer

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")


def _ask(url: str, message: object) -> dict[str, str]:
    with connect(url) as ws:
        ws.send(json.dumps(message) if not isinstance(message, str) else message)
        answer: dict[str, str] = json.loads(ws.recv(timeout=10))
        return answer


def test_the_sink_attests_the_pages_leaf_key_for_its_job_only(tmp_path: Path) -> None:
    priv, pub = new_key()
    key = private_key(priv)
    server = SinkServer(Sink(tmp_path / "w"), token="tok-123", attest=functools.partial(attest, key, "acme", "room-1", "rec-1"))
    server.start()
    try:
        leaf = os.urandom(32)
        base = f"ws://127.0.0.1:{server.port}"
        got = _ask(f"{base}/tok-123/attest", {"type": "attest", "key": b64u(leaf)})
        assert got["type"] == "attestation"
        raw_pub = base64.urlsafe_b64decode(pub + "=")
        sig = base64.urlsafe_b64decode(got["attestation"] + "==")
        Ed25519PublicKey.from_public_bytes(raw_pub).verify(sig, attestation_message("acme", "room-1", "rec-1", leaf))
        # whatever the page says, the pool signs its own job's room and participant: the page sends only a key
        for bad in [{"type": "attest", "key": b64u(os.urandom(31))}, {"type": "attest", "key": "!" * 43},
                    {"type": "attest"}, {"type": "attest", "key": 7}, "nonsense", []]:
            assert _ask(f"{base}/tok-123/attest", bad) == {"type": "refused"}, bad
        with pytest.raises(ConnectionClosed), connect(f"{base}/wrong/attest") as ws:  # another job's token
            ws.send(json.dumps({"type": "attest", "key": b64u(leaf)}))
            ws.recv(timeout=10)
        assert server.attested == 1 and server.attest_refused == 6 and server.refused == 1
    finally:
        server.stop()


def test_a_pool_without_the_tenants_recorder_key_attests_nothing(tmp_path: Path) -> None:
    server = SinkServer(Sink(tmp_path / "w"), token="tok").start()
    try:
        got = _ask(f"ws://127.0.0.1:{server.port}/tok/attest", {"type": "attest", "key": b64u(os.urandom(32))})
        assert got == {"type": "refused"}
    finally:
        server.stop()


def test_recorder_keys_file(tmp_path: Path) -> None:
    priv, pub = new_key()
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"acme": priv, "bad": "short", "num": 5}))
    keys = RecorderKeys(path)
    got = keys.get("acme")
    assert got is not None and public_key(got) == pub
    assert keys.get("bad") is None and keys.get("num") is None and keys.get("other") is None
    assert RecorderKeys(tmp_path / "missing.json").get("acme") is None


@pytest.mark.skipif(NODE is None, reason="Node.js is installed by scripts/setup.sh --test")
def test_what_the_pool_signs_the_members_verify_and_nothing_else() -> None:
    priv, pub = new_key()
    leaf = os.urandom(32)
    sig = attest(private_key(priv), "acme", "room-1", "rec-1", leaf)
    script = """
const { verifyAttestation } = await import(process.argv[1]);
const { cipherSuite } = await import(process.argv[2]);
const [pub, sig, leaf] = process.argv.slice(3).map((s) => Uint8Array.from(Buffer.from(s, "base64url")));
const cs = await cipherSuite();
const s = Buffer.from(sig).toString("base64url");
const out = [await verifyAttestation(cs, pub, s, "acme", "room-1", "rec-1", leaf),
  await verifyAttestation(cs, pub, s, "acme", "room-2", "rec-1", leaf),
  await verifyAttestation(cs, pub, s, "acme", "room-1", "rec-2", leaf),
  await verifyAttestation(cs, pub, s, "other", "room-1", "rec-1", leaf)];
console.log(JSON.stringify(out));
"""
    assert NODE is not None
    run = subprocess.run([NODE, "--input-type=module", "-e", script, "--",
                          str(ROOT / "signalling/client/e2ee/handover.js"), str(ROOT / "signalling/client/e2ee/group.js"),
                          pub, sig, b64u(leaf)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [True, False, False, False]
