"""The export a regulator accepts: `castellan recording export` writes a signed package and
`castellan recording verify` accepts it offline — and refuses it after one byte of any file changes, a file goes
missing or is added, the manifest is edited (even re-signed by another key), or an audit record is rewritten.
A legal hold, placed and refused through the CLI, is in the package's audit records."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from recording.package import MANIFEST, SIGNATURE, canonical
from residency.signing import public_key_pem
from tests.recording.archive_world import TENANT_KEYS, make_archive, recorded
from tests.residency.residency_world import FakeClock

ROOT = Path(__file__).resolve().parents[2]


def castellan(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([sys.executable, "-m", "signalling.cli", "recording", *args], cwd=ROOT, capture_output=True,
                       text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if check and p.returncode != 0:
        raise AssertionError(p.stdout + p.stderr)
    return p


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    tmp = tmp_path_factory.mktemp("export")
    archive = make_archive(tmp, FakeClock())
    rec = recorded(archive, tmp, "board", {"p-alice": "Alice", "p-bob": "Bob"})
    archive.db.close()
    keys = tmp / "tenant-keys.json"
    keys.write_text(json.dumps({t: {"id": i, "key": base64.b64encode(k).decode()}
                                for t, (i, k) in TENANT_KEYS.items()}))
    common = ["--db", str(tmp / "castellan.db"), "--volume", str(tmp / "volume"), "--tenant-keys", str(keys),
              "--tenant", "acme", "--actor", "admin:alice"]
    hold = json.loads(castellan("hold", *common, "--scope", "meeting", "--target", "board",
                                "--reason", "FCA request 42").stdout)["hold"]
    refused = castellan("delete", *common, rec.id, check=False)
    assert refused.returncode == 1 and "legal_hold" in refused.stderr
    signing = tmp / "deploy.pem"
    castellan("export", *common, rec.id, "--out", str(tmp / "pkg"), "--signing-key", str(signing))
    pub = tmp / "deploy.pub.pem"
    from residency.signing import load_or_create_signing_key

    pub.write_text(public_key_pem(load_or_create_signing_key(signing)))
    return tmp / "pkg", pub, hold


def _verify(pkg: Path, pub: Path) -> subprocess.CompletedProcess[str]:
    return castellan("verify", str(pkg), "--public-key", str(pub), check=False)


def test_the_package_verifies_offline_and_carries_what_a_regulator_needs(exported: tuple[Path, Path, str]) -> None:
    pkg, pub, hold = exported
    p = _verify(pkg, pub)
    assert p.returncode == 0 and "OK: recording" in p.stdout and "ACME archive" in p.stdout, p.stderr
    m = json.loads((pkg / MANIFEST).read_text())
    assert set(m["files"]) == {"p-alice-audio.webm", "p-bob-audio.webm", "chat.jsonl", "timeline.jsonl"}
    assert m["regions"] == ["eu-1"] and m["recorder"]["name"] == "ACME archive"
    kinds = [a["kind"] for a in m["audit"]]
    assert kinds[0] == "recording.started" and "recording.exported" in kinds
    assert "recording.delete_refused" in kinds  # the admin's refused deletion under the hold
    assert any(a["data"].get("holds") == [hold] for a in m["audit"])


@pytest.mark.parametrize("attack", ["one_byte", "missing", "extra", "manifest_edit", "resigned", "audit_rewrite",
                                    "signature_swap", "symlink"])
def test_any_alteration_fails_verification(exported: tuple[Path, Path, str], tmp_path: Path, attack: str) -> None:
    src, pub, _ = exported
    pkg = tmp_path / "pkg"
    shutil.copytree(src, pkg)
    m = json.loads((pkg / MANIFEST).read_text())
    if attack == "one_byte":
        f = pkg / "p-bob-audio.webm"
        b = bytearray(f.read_bytes())
        b[len(b) // 2] ^= 0x01
        f.write_bytes(bytes(b))
    elif attack == "missing":
        (pkg / "chat.jsonl").unlink()
    elif attack == "extra":
        (pkg / "p-mallory-audio.webm").write_bytes(b"planted")
    elif attack in ("manifest_edit", "resigned", "audit_rewrite"):
        if attack == "audit_rewrite":
            m["audit"][0]["actor"] = "admin:nobody"
        else:
            m["regions"] = ["eu-1"] if attack == "resigned" else ["eu-2"]
            m["recording"]["participants"].pop("p-bob")
        body = canonical(m)
        (pkg / MANIFEST).write_bytes(body)
        if attack in ("resigned", "audit_rewrite"):  # a forger signs with their own key
            (pkg / SIGNATURE).write_text(base64.b64encode(Ed25519PrivateKey.generate().sign(body)).decode())
    elif attack == "signature_swap":
        (pkg / SIGNATURE).write_text("not base64!!")
    else:
        (pkg / "chat.jsonl").unlink()
        (pkg / "chat.jsonl").symlink_to(src / "chat.jsonl")
    p = _verify(pkg, pub)
    assert p.returncode == 1 and "FAILED" in p.stderr, p.stdout + p.stderr
    assert "OK" not in p.stdout
