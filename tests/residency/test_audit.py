"""The audit log: append-only, hash-chained per tenant, signed head; every kind of tampering is detected."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.exc import DBAPIError

from residency.audit import GENESIS, AuditLog, canonical, record_hash, verify_export
from residency.cli import main as cli_main
from residency.errors import AuditError, NotFound, VerificationFailed
from residency.signing import key_id, load_or_create_signing_key, public_key_pem


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(params=["sqlite", "postgresql"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> AuditLog:
    """Two tenants' stories interleaved in one database (a SQLite file, or PostgreSQL: the same schema history),
    plus deployment events."""
    target = request.getfixturevalue("pg_url") if request.param == "postgresql" else tmp_path / "audit.db"
    log = AuditLog(target)
    log.append("node.joined", actor="control-plane", data={"node": "fra", "region": "eu-1"})
    for i in range(5):
        log.append("placement.decided", actor="control-plane", tenant="acme",
                   data={"room": f"room-{i}", "region": "eu-1", "node": "fra"})
        log.append("placement.decided", actor="control-plane", tenant="globex",
                   data={"room": f"g-{i}", "region": "us-1", "node": "nyc"})
    log.append("policy.changed", actor="admin:alice", tenant="acme",
               data={"reason": "EU only", "after": {"allowed_regions": ["eu-1"]}})
    return log


def lines_of(text: str) -> list[str]:
    return text.rstrip("\n").split("\n")


def rejoin(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def rewrite(line: str, **changes: object) -> str:
    obj = json.loads(line)
    obj.update(changes)
    return canonical(obj).decode()


def refused(text: str, key: Ed25519PrivateKey) -> str:
    with pytest.raises(VerificationFailed) as err:
        verify_export(text, key.public_key())
    return err.value.code


def test_each_tenant_has_its_own_unbroken_chain(log: AuditLog) -> None:
    acme = log.tenant_records("acme")
    assert [r.seq for r in acme] == [1, 2, 3, 4, 5, 6]
    assert acme[0].prev == GENESIS
    assert all(b.prev == a.hash for a, b in zip(acme, acme[1:], strict=False))
    assert all(record_hash(r.to_dict()) == r.hash for r in acme)
    assert {r.tenant for r in acme} == {"acme"}
    assert log.chains() == ["deployment", "tenant:acme", "tenant:globex"]
    assert log.verify_stored("tenant:globex") == 5


def test_the_canonical_encoding_is_sorted_compact_utf8() -> None:
    assert canonical({"b": 1, "a": ["ü", None, True]}) == '{"a":["ü",null,true],"b":1}'.encode()


def test_an_untouched_export_verifies_and_names_its_head(log: AuditLog, key: Ed25519PrivateKey) -> None:
    text = log.export_tenant("acme", key)
    result = verify_export(text, key.public_key())
    assert (result.chain, result.count) == ("tenant:acme", 6)
    assert result.head_hash == log.tenant_records("acme")[-1].hash and result.key_id == key_id(key.public_key())
    assert "globex" not in text  # a tenant's export holds only its own records


def test_edited_record_is_detected(log: AuditLog, key: Ed25519PrivateKey) -> None:
    lines = lines_of(log.export_tenant("acme", key))
    lines[2] = lines[2].replace('"region":"eu-1"', '"region":"us-1"')
    assert refused(rejoin(lines), key) == "hash_mismatch"


def test_edited_record_with_recomputed_hash_is_detected(log: AuditLog, key: Ed25519PrivateKey) -> None:
    lines = lines_of(log.export_tenant("acme", key))
    forged = json.loads(lines[2])
    forged["data"]["region"] = "us-1"
    forged["hash"] = record_hash(forged)
    lines[2] = canonical(forged).decode()
    assert refused(rejoin(lines), key) == "chain_broken"


def test_editing_the_last_record_and_its_hash_breaks_the_signed_head(log: AuditLog, key: Ed25519PrivateKey) -> None:
    lines = lines_of(log.export_tenant("acme", key))
    forged = json.loads(lines[-2])
    forged["data"]["reason"] = "all regions"
    forged["hash"] = record_hash(forged)
    lines[-2] = canonical(forged).decode()
    assert refused(rejoin(lines), key) == "head_mismatch"


@pytest.mark.parametrize("index, code", [(0, "sequence_broken"), (3, "sequence_broken"), (5, "head_mismatch")])
def test_deleted_record_is_detected(log: AuditLog, key: Ed25519PrivateKey, index: int, code: str) -> None:
    lines = lines_of(log.export_tenant("acme", key))
    del lines[index]
    assert refused(rejoin(lines), key) == code


def test_deleting_the_tail_and_renumbering_is_detected(log: AuditLog, key: Ed25519PrivateKey) -> None:
    lines = lines_of(log.export_tenant("acme", key))
    head = json.loads(lines[-1])
    head["signed_head"]["seq"] = 5
    head["signed_head"]["hash"] = json.loads(lines[4])["hash"]
    assert refused(rejoin(lines[:5] + [canonical(head).decode()]), key) == "bad_signature"


def test_inserted_record_is_detected(log: AuditLog, key: Ed25519PrivateKey) -> None:
    lines = lines_of(log.export_tenant("acme", key))
    lines.insert(3, lines[2])  # a duplicated, perfectly hashed record
    assert refused(rejoin(lines), key) == "sequence_broken"
    lines = lines_of(log.export_tenant("acme", key))
    fake = json.loads(lines[2])
    fake.update(seq=4, prev=json.loads(lines[2])["hash"], data={"room": "ghost"})
    fake["hash"] = record_hash(fake)
    lines.insert(3, canonical(fake).decode())
    assert refused(rejoin(lines), key) == "sequence_broken"


def test_reordered_records_are_detected(log: AuditLog, key: Ed25519PrivateKey) -> None:
    lines = lines_of(log.export_tenant("acme", key))
    lines[1], lines[2] = lines[2], lines[1]
    assert refused(rejoin(lines), key) == "sequence_broken"
    lines = lines_of(log.export_tenant("acme", key))
    a, b = json.loads(lines[1]), json.loads(lines[2])
    a["seq"], b["seq"] = 3, 2  # swap and renumber: the prev links still give it away
    assert refused(rejoin([lines[0], canonical(b).decode(), canonical(a).decode(), *lines[3:]]), key) \
        == "chain_broken"


def test_another_tenants_record_cannot_be_spliced_in(log: AuditLog, key: Ed25519PrivateKey) -> None:
    acme = lines_of(log.export_tenant("acme", key))
    globex = lines_of(log.export_tenant("globex", key))
    assert refused(rejoin([globex[0], *acme[1:]]), key) == "foreign_record"


def test_a_forged_or_missing_head_is_detected(log: AuditLog, key: Ed25519PrivateKey) -> None:
    lines = lines_of(log.export_tenant("acme", key))
    assert refused(rejoin(lines[:-1]), key) == "missing_head"
    head = json.loads(lines[-1])
    head["signed_head"]["signed_at"] = "2099-01-01T00:00:00.000000Z"
    assert refused(rejoin([*lines[:-1], canonical(head).decode()]), key) == "bad_signature"
    head = json.loads(lines[-1])
    head["signature"] = base64.b64encode(b"\0" * 64).decode()
    assert refused(rejoin([*lines[:-1], canonical(head).decode()]), key) == "bad_signature"
    assert refused(rejoin([lines[-1], *lines]), key) == "misplaced_head"


def test_a_head_signed_by_another_key_is_refused(log: AuditLog, key: Ed25519PrivateKey) -> None:
    impostor = Ed25519PrivateKey.generate()
    assert refused(log.export_tenant("acme", impostor), key) == "unknown_key"


@pytest.mark.parametrize("mutate", [
    lambda ls: [*ls[:2], "", *ls[2:]],                                            # blank line
    lambda ls: [ls[0][:-1] + ',"kind":"x"}', *ls[1:]],                            # duplicate JSON key
    lambda ls: [rewrite(ls[0], extra="field"), *ls[1:]],                          # extra field
    lambda ls: ["not json", *ls],
])
def test_malformed_files_are_refused(log: AuditLog, key: Ed25519PrivateKey, mutate) -> None:
    lines = lines_of(log.export_tenant("acme", key))
    assert refused(rejoin(mutate(lines)), key) in {"malformed", "hash_mismatch"}


def test_the_database_itself_refuses_updates_and_deletes(log: AuditLog) -> None:
    """Someone with SQL access to the database (not through the API) still cannot rewrite history."""
    for sql in ("UPDATE audit_records SET actor = 'mallory'", "DELETE FROM audit_records",
                *(["TRUNCATE audit_records"] if log.db.dialect == "postgresql" else [])):
        with pytest.raises(DBAPIError, match="append-only"):
            log.db.execute(sql)
    assert len(log.tenant_records("acme")) == 6


def test_values_without_a_canonical_form_are_refused(log: AuditLog) -> None:
    with pytest.raises(AuditError) as err:
        log.append("placement.decided", actor="x", tenant="acme", data={"load": 0.5})
    assert err.value.code == "non_canonical_value"
    with pytest.raises(AuditError):
        log.append("Bad Kind", actor="x")
    assert len(log.tenant_records("acme")) == 6  # nothing appended


def test_an_empty_chain_exports_a_verifiable_empty_head(log: AuditLog, key: Ed25519PrivateKey) -> None:
    result = verify_export(log.export_tenant("initech", key), key.public_key())
    assert result.count == 0 and result.head_hash == GENESIS


def test_the_log_survives_reopening_and_keeps_chaining(tmp_path: Path, log: AuditLog) -> None:
    again = AuditLog(log.db.url)
    record = again.append("room.ended", actor="control-plane", tenant="acme", data={"room": "room-0"})
    assert record.seq == 7 and record.prev == log.tenant_records("acme")[5].hash


# -- the CLI: castellan audit verify FILE --public-key KEY -------------------------------------------------

def test_cli_verifies_with_pem_or_jwks_and_fails_tampered_files(
        tmp_path: Path, log: AuditLog, capsys: pytest.CaptureFixture[str]) -> None:
    signing = tmp_path / "keys" / "audit.pem"
    assert cli_main(["export", "--db", log.db.url, "--tenant", "acme", "--signing-key", str(signing),
                     "-o", str(tmp_path / "acme.jsonl")]) == 0
    key = load_or_create_signing_key(signing)
    assert oct(signing.stat().st_mode & 0o777) == "0o600"
    pem = tmp_path / "pub.pem"
    pem.write_text(public_key_pem(key))
    assert cli_main(["verify", str(tmp_path / "acme.jsonl"), "--public-key", str(pem)]) == 0
    assert "OK: 6 records of chain tenant:acme" in capsys.readouterr().out

    raw = key.public_key().public_bytes_raw()
    jwks = {"keys": [{"kty": "RSA", "n": "x", "e": "AQAB"},
                     {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}]}
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    assert cli_main(["verify", str(tmp_path / "acme.jsonl"), "--public-key", str(tmp_path / "jwks.json")]) == 0

    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text((tmp_path / "acme.jsonl").read_text().replace("room-3", "room-9"))
    capsys.readouterr()
    assert cli_main(["verify", str(tampered), "--public-key", str(pem)]) == 1
    assert "FAILED: hash_mismatch" in capsys.readouterr().err
    assert cli_main(["verify", str(tmp_path / "missing.jsonl"), "--public-key", str(pem)]) == 1
    assert cli_main(["verify"]) == 2
    assert cli_main(["public-key", "--signing-key", str(signing)]) == 0
    assert "BEGIN PUBLIC KEY" in capsys.readouterr().out


def test_two_writers_on_one_file_never_fork_a_chain(tmp_path: Path) -> None:
    """Two control-plane processes share the SQLite file: BEGIN IMMEDIATE serialises their appends."""
    import threading

    path = tmp_path / "shared.db"
    writers = [AuditLog(path), AuditLog(path)]

    def write(log: AuditLog, who: str) -> None:
        for i in range(40):
            log.append("admin.action", actor=who, tenant="acme", data={"i": i})

    threads = [threading.Thread(target=write, args=(w, f"cp-{n}")) for n, w in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert writers[0].verify_stored("tenant:acme") == 80


def test_unknown_tenant_policy_attempts_are_audited_on_the_deployment_chain(tmp_path: Path) -> None:
    from residency.service import ResidencyService

    svc = ResidencyService(tmp_path / "cp.db")
    with pytest.raises(NotFound):
        svc.set_allowed_regions("ghost", ["eu-1"], actor="admin:eve", reason="probe")
    record = svc.audit.records("deployment")[-1]
    assert (record.kind, record.actor, record.data["code"]) == ("policy.refused", "admin:eve", "unknown_tenant")
    assert svc.audit.chains() == ["deployment"]
