"""The export package a regulator checks offline: a directory holding the media files, chat and timeline, and
`manifest.json` + `manifest.sig`. The manifest lists every file with its SHA-256 and size, the meeting's audit
records (each with its own hash, recomputed on verification), the recorder's identity and the regions it ran in,
and the recording's parts (one per recorder that ran it, with its files and region) and the gaps between them
(a recorder that died mid-meeting: from/to ms, which recorder, which one continued); the signature is Ed25519 over
the manifest's exact bytes.

`verify` fails on: a bad or missing signature, a manifest that is not the signed bytes, any listed file missing
or altered (one byte is enough), any file present that the manifest does not list, a path that leaves the
package, an audit record whose hash does not match its content; a part whose files are not in the package, a
file in no part, parts not numbered 1…n, a part's region missing from the regions; a gap missing between two
parts, a gap the audit records name (a recorder lost, moved, a continuation refused) missing from the manifest,
a recorder move the audit records name without its part; a part's rolling segments not numbered 1…k, out of
order, or naming files outside their part, a sealed segment the audit records name (`recording.segment_sealed`)
missing from its part — so a gap cannot be hidden, nor a segment dropped, by re-signing the manifest without also
rewriting the audit records.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from residency.audit import canonical, record_hash
from residency.signing import key_id

FORMAT = "castellan-recording-export/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"


class PackageInvalid(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def _safe(name: str) -> bool:
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and all(p not in ("", ".", "..") for p in parts) \
        and name not in (MANIFEST, SIGNATURE)


def build(directory: Path, *, recording: Mapping[str, Any], recorder: Mapping[str, Any], regions: Sequence[str],
          audit: Iterable[Mapping[str, object]], signer: Ed25519PrivateKey, created_at: str) -> dict[str, Any]:
    """Sign the files already in `directory` (every regular file but the manifest and signature)."""
    files = {}
    for p in sorted(directory.rglob("*")):
        if p.is_file():
            name = str(p.relative_to(directory))
            if name in (MANIFEST, SIGNATURE):
                continue
            files[name] = {"sha256": sha256_file(p), "size": p.stat().st_size}
    manifest = {"format": FORMAT, "recording": dict(recording), "recorder": dict(recorder),
                "regions": sorted(set(regions)), "files": files, "audit": [dict(a) for a in audit],
                "created_at": created_at, "signed_by": key_id(signer.public_key())}
    body = canonical(manifest)
    (directory / MANIFEST).write_bytes(body)
    (directory / SIGNATURE).write_text(base64.b64encode(signer.sign(body)).decode() + "\n")
    return manifest


@dataclass(frozen=True)
class Verified:
    manifest: dict[str, Any]
    files: int
    audit_records: int
    key_id: str


def verify(directory: Path, public_keys: Iterable[Ed25519PublicKey]) -> Verified:
    if not directory.is_dir():
        raise PackageInvalid("not_a_package", f"{directory} is not a directory")
    try:
        body = (directory / MANIFEST).read_bytes()
        sig = base64.b64decode((directory / SIGNATURE).read_text().strip(), validate=True)
    except FileNotFoundError as e:
        raise PackageInvalid("missing_manifest", f"{e.filename} is missing") from e
    except ValueError as e:
        raise PackageInvalid("bad_signature", "manifest.sig is not base64") from e
    signer = None
    for k in public_keys:
        try:
            k.verify(sig, body)
        except InvalidSignature:
            continue
        signer = k
        break
    if signer is None:
        raise PackageInvalid("bad_signature", "the manifest's signature does not verify with the given key(s)")
    try:
        manifest = json.loads(body)
    except ValueError as e:
        raise PackageInvalid("bad_manifest", "manifest.json is not JSON") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or canonical(manifest) != body:
        raise PackageInvalid("bad_manifest", f"manifest.json is not a canonical {FORMAT} manifest")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise PackageInvalid("bad_manifest", "manifest lists no files")
    for name, meta in sorted(files.items()):
        if not _safe(name):
            raise PackageInvalid("bad_path", f"{name!r} is not a path inside the package")
        p = directory / name
        if not p.is_file() or p.is_symlink():
            raise PackageInvalid("missing_file", f"{name} is missing")
        if p.stat().st_size != meta.get("size") or sha256_file(p) != meta.get("sha256"):
            raise PackageInvalid("altered_file", f"{name} does not match its hash in the manifest")
    present = {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file() or p.is_symlink()}
    extra = sorted(present - set(files) - {MANIFEST, SIGNATURE})
    if extra:
        raise PackageInvalid("unlisted_file", f"not in the signed manifest: {', '.join(extra)}")
    audit = manifest.get("audit")
    if not isinstance(audit, list):
        raise PackageInvalid("bad_manifest", "manifest has no audit records")
    for r in audit:
        if not isinstance(r, dict) or record_hash(r) != r.get("hash"):
            raise PackageInvalid("bad_audit", f"audit record {r.get('seq') if isinstance(r, dict) else r!r} "
                                 "does not match its hash")
    _check_parts(manifest, files, audit)
    return Verified(manifest=manifest, files=len(files), audit_records=len(audit), key_id=key_id(signer))


GAP_KINDS = ("recording.recorder_lost", "recording.recorder_moved", "recording.continuation_refused")


def _check_parts(manifest: dict[str, Any], files: dict[str, Any], audit: list[dict[str, Any]]) -> None:
    rec = manifest.get("recording")
    rec = rec if isinstance(rec, dict) else {}
    parts, gaps = rec.get("parts", []), rec.get("gaps", [])
    if not isinstance(parts, list) or not isinstance(gaps, list) \
            or not all(isinstance(x, dict) for x in [*parts, *gaps]):
        raise PackageInvalid("bad_manifest", "the recording's parts and gaps are not lists of objects")
    moves = [a["data"] for a in audit if a.get("kind") == "recording.recorder_moved" and isinstance(a.get("data"), dict)]
    if not parts:
        if moves or gaps:  # a recording that moved has parts: they were taken out
            raise PackageInvalid("missing_part", "the audit records name a recorder move but the manifest lists no parts")
        return
    if [x.get("part") for x in parts] != list(range(1, len(parts) + 1)):
        raise PackageInvalid("missing_part", "the recording's parts are not numbered 1…n")
    listed: set[str] = set()
    for x in parts:
        names = x.get("files")
        if not isinstance(names, list):
            raise PackageInvalid("bad_manifest", f"part {x.get('part')} lists no files")
        missing = sorted(str(n) for n in names if n not in files)
        if missing:
            raise PackageInvalid("missing_part", f"part {x['part']}'s files are not in the package: "
                                 f"{', '.join(missing)}")
        if x.get("region") not in manifest.get("regions", []):
            raise PackageInvalid("bad_manifest", f"part {x['part']} ran in {x.get('region')!r}, not in the regions")
        listed.update(str(n) for n in names)
    _check_segments(parts, audit)
    orphans = sorted(set(files) - listed)
    if orphans:
        raise PackageInvalid("missing_part", f"in no part of the recording: {', '.join(orphans)}")
    numbers = {int(m["part"]) for m in moves if isinstance(m.get("part"), int)}
    if numbers != set(range(2, len(parts) + 1)):
        raise PackageInvalid("missing_part", f"the audit records name {len(numbers)} recorder move(s) for "
                             f"{len(parts)} part(s)")
    for g in gaps:
        a, b = g.get("from_ms"), g.get("to_ms")
        if not isinstance(a, int) or not (b is None or (isinstance(b, int) and b >= a)):
            raise PackageInvalid("bad_manifest", f"gap {g!r} is not from_ms <= to_ms")
    continued = [g for g in gaps if g.get("replaced_by")]
    for x in parts[1:]:
        if not any(g.get("replaced_by") == x.get("recorder") and g.get("to_ms") == x.get("from_ms")
                   for g in continued):
            raise PackageInvalid("missing_gap", f"no gap before part {x['part']} (its recorder took over at "
                                 f"{x.get('from_ms')} ms)")
    starts = {g.get("from_ms") for g in gaps}
    for r in audit:
        d = r.get("data")
        if r.get("kind") in GAP_KINDS and isinstance(d, dict) and d.get("gap_from_ms") is not None \
                and d["gap_from_ms"] not in starts:
            raise PackageInvalid("missing_gap", f"audit record {r.get('seq')} ({r.get('kind')}) names a gap from "
                                 f"{d['gap_from_ms']} ms that the manifest does not list")


def _check_segments(parts: list[dict[str, Any]], audit: list[dict[str, Any]]) -> None:
    """Each part's rolling segments (sealed while it recorded): numbered 1…k in time order, within the part's files,
    and every one the audit records name is listed."""
    listed: set[tuple[int, int, int, int]] = set()
    for x in parts:
        segs = x.get("segments", [])
        if not isinstance(segs, list) or not all(isinstance(g, dict) for g in segs):
            raise PackageInvalid("bad_manifest", f"part {x.get('part')}'s segments are not a list of objects")
        if [g.get("segment") for g in segs] != list(range(1, len(segs) + 1)):
            raise PackageInvalid("missing_segment", f"part {x['part']}'s segments are not numbered 1…n")
        end = None
        for g in segs:
            a, b, names = g.get("from_ms"), g.get("to_ms"), g.get("files")
            if not isinstance(a, int) or not isinstance(b, int) or b < a or (end is not None and a < end) \
                    or not isinstance(names, list):
                raise PackageInvalid("bad_manifest", f"part {x['part']} segment {g.get('segment')} is not a span "
                                     "after the previous one with its files")
            outside = sorted(str(n) for n in names if n not in x.get("files", []))
            if outside:
                raise PackageInvalid("missing_segment", f"part {x['part']} segment {g['segment']}'s files are not "
                                     f"in the part: {', '.join(outside)}")
            end = b
            listed.add((int(x["part"]), int(g["segment"]), a, b))
    for r in audit:
        d = r.get("data")
        if r.get("kind") != "recording.segment_sealed" or not isinstance(d, dict):
            continue
        key = (d.get("part"), d.get("segment"), d.get("from_ms"), d.get("to_ms"))
        if key not in listed:
            raise PackageInvalid("missing_segment", f"audit record {r.get('seq')} names part {key[0]} segment "
                                 f"{key[1]} ({key[2]}–{key[3]} ms), which the manifest does not list")
