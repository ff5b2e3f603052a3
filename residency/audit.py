"""Append-only, hash-chained, signed audit log (SQLite or PostgreSQL, `db.py`), with per-tenant export and offline verification.

DESIGN: one chain per tenant, plus one deployment chain.
  Every record belongs to exactly one chain: "tenant:<id>" for anything about a tenant (policy changes,
  placements, refusals of its joins) and "deployment" for the rest (regions, node joins/leaves, refusals that
  name no known tenant). Within a chain, records are numbered seq = 1, 2, 3, ... and each carries `prev`, the
  hash of the previous record of the same chain (GENESIS, 64 zeros, for seq 1).
  Why not one global chain? A tenant's export must verify on its own, without seeing other tenants' records
  (which it may not read). With per-tenant chains the export IS a complete chain: nothing is elided, no other
  tenant's hashes are disclosed, and the verifier needs no special cases.

CANONICAL ENCODING (what is hashed and signed):
  canonical(obj) = UTF-8 of json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
  allow_nan=False). Values are restricted to null, booleans, integers, strings, lists and objects with string
  keys - no floats - so every JSON library re-encodes them identically.
  record.hash = hex(SHA-256(canonical(record without its "hash" field))); the record fields are
  chain, seq, ts (ISO 8601 UTC text), kind, actor, tenant (id or null), data (object), prev.

SIGNED HEAD: an export ends with one line {"signed_head": H, "signature": base64(Ed25519(canonical(H)))} where
  H = {"format": "castellan-audit-1", "chain", "seq" (records in the chain), "hash" (last record's hash or
  GENESIS), "signed_at", "key_id"}. The signature covers the last hash, which by the chain covers every record,
  so it proves the whole file came from the deployment holding the key.

WHAT `verify_export` DETECTS, AND HOW
  * edited record            -> its recomputed hash differs from its `hash` (or, if `hash` was recomputed
                                too, the next record's `prev` / the signed head no longer matches);
  * deleted record           -> seq gap and `prev` mismatch; deleting the last ones -> head seq/hash mismatch;
  * inserted record          -> seq and `prev` mismatch;
  * reordered records        -> seq and `prev` mismatch;
  * forged or edited head    -> signature invalid; missing head -> refused; extra keys, blank lines,
                                duplicate JSON keys, records of another chain -> refused.
  Limit (stated, not hidden): a verifier given an OLDER genuine export sees a valid, shorter chain; compare
  `signed_at` and `seq` with what you expect (freshness is what the API export provides).

Append-only inside the database too: triggers (schema history, baseline) abort any UPDATE or DELETE on the table
(and TRUNCATE on PostgreSQL).

RECORD KINDS: `kind` is an open string (lower case, dots). Residency writes:
  region.defined, tenant.created, policy.changed, placement.decided, placement.replaced, placement.refused,
  admission.refused, node.joined, node.left, node.refused, room.ended, and for refused bad input
  region.refused, tenant.refused, policy.refused (who tried what, and the error code that refused it).
  The control plane adds its own (e.g. admin.login, link.created, link.revoked, token.refused, ...).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import AuditError, VerificationFailed
from .signing import key_id

if TYPE_CHECKING:  # the database layer (SQLAlchemy) loads only with a log: verifying a file needs none of it
    from .db import Database

GENESIS = "0" * 64
FORMAT = "castellan-audit-1"
DEPLOYMENT_CHAIN = "deployment"
RECORD_FIELDS = ("chain", "seq", "ts", "kind", "actor", "tenant", "data", "prev", "hash")
HEAD_FIELDS = ("format", "chain", "seq", "hash", "signed_at", "key_id")
_KIND = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")

# What may go into a record's `data`: the canonical-JSON values of the module docstring, so a float (or any other
# value without one portable encoding) is a type error before it is a run-time AuditError. Sequence/Mapping (not
# list/dict) so that e.g. a `list[str]` or `dict[str, str]` is accepted as it is.
AuditValue: TypeAlias = "None | bool | int | str | Sequence[AuditValue] | Mapping[str, AuditValue]"
AuditData: TypeAlias = Mapping[str, AuditValue]

def chain_of(tenant: str | None) -> str:
    return DEPLOYMENT_CHAIN if tenant is None else f"tenant:{tenant}"


def _check_value(value: object, where: str) -> None:
    """Only values with one obvious canonical JSON form may enter the log (see the module docstring)."""
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_value(v, f"{where}[{i}]")
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise AuditError("non_canonical_value", f"{where}: object keys must be strings, got {k!r}")
            _check_value(v, f"{where}.{k}")
        return
    raise AuditError("non_canonical_value",
                     f"{where}: {type(value).__name__} values are not allowed in audit records "
                     "(use int or str; floats have no portable canonical form)")


def canonical(obj: object) -> bytes:
    """Sorted-keys, compact, UTF-8 JSON: the one byte string that is hashed or signed."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def record_hash(fields: Mapping[str, object]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in fields.items() if k != "hash"})).hexdigest()


def _ts(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class SignedHead(TypedDict):
    format: str
    chain: str
    seq: int
    hash: str
    signed_at: str
    key_id: str


class SignedHeadLine(TypedDict):
    """The last line of an export."""

    signed_head: SignedHead
    signature: str


@dataclass(frozen=True)
class AuditRecord:
    chain: str
    seq: int
    ts: str
    kind: str
    actor: str
    tenant: str | None
    data: dict[str, AuditValue]
    prev: str
    hash: str

    def to_dict(self) -> dict[str, object]:
        return {"chain": self.chain, "seq": self.seq, "ts": self.ts, "kind": self.kind, "actor": self.actor,
                "tenant": self.tenant, "data": self.data, "prev": self.prev, "hash": self.hash}


@dataclass(frozen=True)
class VerifiedExport:
    """What a successful verification proves: `count` records of `chain`, ending in `head_hash`, signed."""

    chain: str
    count: int
    head_hash: str
    signed_at: str
    key_id: str
    records: list[dict[str, Any]] = field(repr=False, default_factory=list)  # as parsed from the file


class AuditLog:
    """The log. `AuditLog(path)` standalone, or `AuditLog(database)` to share transactions with the store."""

    def __init__(self, db: Database | str | Path, clock: Callable[[], float] = time.time) -> None:
        from .db import Database

        self.db = db if isinstance(db, Database) else Database(db)
        self.clock = clock

    def append(self, kind: str, *, actor: str, tenant: str | None = None,
               data: AuditData | None = None) -> AuditRecord:
        """Append one record to the tenant's chain (or the deployment chain when `tenant` is None)."""
        if not isinstance(kind, str) or not _KIND.match(kind):
            raise AuditError("invalid_kind", f"audit kind {kind!r} must match {_KIND.pattern}")
        if not isinstance(actor, str) or not actor:
            raise AuditError("invalid_actor", "audit records need a non-empty actor")
        if tenant is not None and not isinstance(tenant, str):
            raise AuditError("invalid_tenant", f"tenant must be a string id or None, got {tenant!r}")
        payload = dict(data or {})
        _check_value(payload, "data")
        chain = chain_of(tenant)
        with self.db.transaction() as tx:
            row: Any = tx.execute("SELECT seq, hash FROM audit_records WHERE chain = :chain ORDER BY seq DESC LIMIT 1",
                             {"chain": chain}).fetchone()
            seq, prev = (int(row[0]) + 1, str(row[1])) if row else (1, GENESIS)
            ts = _ts(self.clock())
            digest = record_hash({"chain": chain, "seq": seq, "ts": ts, "kind": kind, "actor": actor,
                                  "tenant": tenant, "data": payload, "prev": prev})
            tx.execute("INSERT INTO audit_records (chain, seq, ts, kind, actor, tenant, data, prev, hash) "
                       "VALUES (:chain, :seq, :ts, :kind, :actor, :tenant, :data, :prev, :hash)",
                       {"chain": chain, "seq": seq, "ts": ts, "kind": kind, "actor": actor, "tenant": tenant,
                        "data": canonical(payload).decode(), "prev": prev, "hash": digest})
        return AuditRecord(chain=chain, seq=seq, ts=ts, kind=kind, actor=actor, tenant=tenant, data=payload,
                           prev=prev, hash=digest)

    def records(self, chain: str) -> list[AuditRecord]:
        rows = self.db.query("SELECT chain, seq, ts, kind, actor, tenant, data, prev, hash FROM audit_records "
                             "WHERE chain = :chain ORDER BY seq", {"chain": chain})
        return [AuditRecord(chain=str(r[0]), seq=int(r[1]), ts=str(r[2]), kind=str(r[3]),
                            actor=str(r[4]), tenant=None if r[5] is None else str(r[5]),
                            data=json.loads(str(r[6])), prev=str(r[7]), hash=str(r[8])) for r in rows]

    def tenant_records(self, tenant: str) -> list[AuditRecord]:
        return self.records(chain_of(tenant))

    def chains(self) -> list[str]:
        return [str(r[0]) for r in self.db.query("SELECT DISTINCT chain FROM audit_records ORDER BY chain")]

    def signed_head(self, chain: str, signer: Ed25519PrivateKey,
                    records: Sequence[AuditRecord] | None = None) -> SignedHeadLine:
        """Sign the head of `records` (default: the chain as stored now)."""
        records = self.records(chain) if records is None else records
        seq, last = (records[-1].seq, records[-1].hash) if records else (0, GENESIS)
        head: SignedHead = {"format": FORMAT, "chain": chain, "seq": seq, "hash": last, "signed_at": _ts(self.clock()),
                "key_id": key_id(signer.public_key())}
        return {"signed_head": head, "signature": base64.b64encode(signer.sign(canonical(head))).decode()}

    def export(self, chain: str, signer: Ed25519PrivateKey) -> str:
        """The chain as JSON Lines (one canonical record per line) ending with its signed head.

        The head is computed from the very records exported, so an append by another process meanwhile
        cannot make the file inconsistent (it simply is not in this export)."""
        records = self.records(chain)
        lines = [canonical(r.to_dict()).decode() for r in records]
        lines.append(canonical(self.signed_head(chain, signer, records)).decode())
        return "\n".join(lines) + "\n"

    def export_tenant(self, tenant: str, signer: Ed25519PrivateKey) -> str:
        return self.export(chain_of(tenant), signer)

    def verify_stored(self, chain: str) -> int:
        """Re-check the chain inside the database (e.g. after restoring a backup); returns its length."""
        records = self.records(chain)
        _verify_records([r.to_dict() for r in records], chain)
        return len(records)


def _fail(code: str, message: str) -> VerificationFailed:
    return VerificationFailed(code, message)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise _fail("malformed", f"duplicate JSON key in {keys}")
    return dict(pairs)


def _verify_records(records: Sequence[Mapping[str, object]], chain: str) -> str:
    """Check seq numbering, prev links, hashes and chain membership; return the last hash."""
    prev = GENESIS
    for i, rec in enumerate(records, start=1):
        if set(rec) != set(RECORD_FIELDS):
            raise _fail("malformed", f"line {i}: record fields must be exactly {', '.join(RECORD_FIELDS)}")
        if rec["chain"] != chain:
            raise _fail("foreign_record", f"line {i}: record belongs to chain {rec['chain']!r}, not {chain!r}")
        if chain.startswith("tenant:") and rec["tenant"] != chain[len("tenant:"):]:
            raise _fail("foreign_record", f"line {i}: record names tenant {rec['tenant']!r}, not this chain's")
        if rec["seq"] != i:
            raise _fail("sequence_broken", f"line {i}: expected seq {i}, found {rec['seq']!r} "
                                           "(a record was deleted, inserted or moved)")
        if rec["prev"] != prev:
            raise _fail("chain_broken", f"line {i} (seq {i}): prev does not match the previous record's hash")
        digest = record_hash(rec)
        if digest != rec["hash"]:
            raise _fail("hash_mismatch", f"line {i} (seq {i}): content does not match its hash (edited)")
        prev = digest
    return prev


def verify_export(text: str, public_keys: Ed25519PublicKey | Iterable[Ed25519PublicKey]) -> VerifiedExport:
    """Prove an exported file is an unbroken chain with a genuine signed head; raise VerificationFailed."""
    keys = [public_keys] if isinstance(public_keys, Ed25519PublicKey) else list(public_keys)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the single trailing newline
    if not lines:
        raise _fail("empty", "the file is empty")
    parsed: list[dict[str, Any]] = []
    for n, line in enumerate(lines, start=1):
        try:
            obj = json.loads(line, object_pairs_hook=_no_duplicate_keys)
        except ValueError as exc:
            raise _fail("malformed", f"line {n} is not JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise _fail("malformed", f"line {n} is not a JSON object")
        parsed.append(obj)
    *records, last = parsed
    if set(last) != {"signed_head", "signature"}:
        raise _fail("missing_head", "the last line must be the signed head (the file was truncated or extended)")
    if any("signed_head" in r for r in records):
        raise _fail("misplaced_head", "a signed head appears before the end of the file")
    head, signature = last["signed_head"], last["signature"]
    if not isinstance(head, dict) or set(head) != set(HEAD_FIELDS) or head.get("format") != FORMAT:
        raise _fail("malformed", f"signed head must have exactly {', '.join(HEAD_FIELDS)} and format {FORMAT}")
    key = next((k for k in keys if key_id(k) == head["key_id"]), None)
    if key is None:
        raise _fail("unknown_key", f"the head is signed by key {head['key_id']}, not by the given public key(s) "
                                   f"({', '.join(key_id(k) for k in keys)})")
    try:
        key.verify(base64.b64decode(str(signature), validate=True), canonical(head))
    except (InvalidSignature, ValueError):
        raise _fail("bad_signature", "the signed head's signature is not valid for this key") from None
    chain = str(head["chain"])
    last_hash = _verify_records(records, chain)
    if head["seq"] != len(records) or head["hash"] != last_hash:
        raise _fail("head_mismatch", f"the signed head covers {head['seq']} records ending in {head['hash'][:12]}…, "
                                     f"the file has {len(records)} ending in {last_hash[:12]}… (records removed "
                                     "or added at the end)")
    return VerifiedExport(chain=chain, count=len(records), head_hash=last_hash, signed_at=str(head["signed_at"]),
                          key_id=str(head["key_id"]), records=records)


def verify_file(path: str | Path, public_keys: Ed25519PublicKey | Iterable[Ed25519PublicKey]) -> VerifiedExport:
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail("unreadable", f"cannot read {path}: {exc}") from exc
    return verify_export(text, public_keys)
