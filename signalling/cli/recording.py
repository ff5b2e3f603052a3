"""`castellan recording …` (mounted as a passthrough command: its argv comes here untouched).

    castellan recording verify PACKAGE --public-key KEY        offline; exit 0 verified, 1 failed, 2 usage
    castellan recording list|show|policy|hold|release|holds|delete|retention|export|download|subject-export|
                        subject-erase --tenant T
        --api URL [--key-file FILE]       through the control plane's admin API, as the console (recording_api.py)
        --db PATH|URL --volume DIR --tenant-keys FILE --actor admin:NAME     on the database and volume directly

Every admin action is an audit record in the tenant's chain (recording/archive.py); through the API its actor is
the admin key. Exit 0 done, 1 refused (printed on stderr with the reason), 2 usage.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path

from .options import failed


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="castellan recording", description="Compliance recordings (docs/recording.md)")
    sub = p.add_subparsers(dest="action", required=True)
    v = sub.add_parser("verify", help="check an export package offline: signature, every file's hash, nothing extra")
    v.add_argument("package")
    v.add_argument("--public-key", required=True, help="PEM, JWK or JWKS file with the deployment's signing key")

    def admin(name: str, help: str) -> argparse.ArgumentParser:
        a = sub.add_parser(name, help=help)
        a.add_argument("--tenant", required=True)
        api = a.add_argument_group("through the admin API (a tenant admin key; no database access)")
        api.add_argument("--api", help="the control plane's URL (env CASTELLAN_API when --db is not given)")
        api.add_argument("--key-file", default=os.environ.get("CASTELLAN_KEY_FILE"),
                         help="file holding the admin key (env CASTELLAN_KEY_FILE; or the key in CASTELLAN_KEY)")
        api.add_argument("--key", help=argparse.SUPPRESS)  # as the other admin commands; the file or env is safer
        api.add_argument("--json", action="store_true", help="times as Unix seconds, as the API answers")
        db = a.add_argument_group("on the database and volume directly (the operator)")
        db.add_argument("--db", help="control plane database (file or postgresql:// URL)")
        db.add_argument("--volume", help="the recording volume (every region's recordings on it)")
        db.add_argument("--region-volumes", metavar="REGION=DIR,...",
                        help="one volume per region, as the control plane's --recording-region-volumes (a recording "
                             "of a region not listed is refused, never read from another region's volume)")
        db.add_argument("--region-s3", metavar="FILE",
                        help="regions whose recordings are in S3 buckets, as the control plane's "
                             "--recording-region-s3 (with or without --region-volumes for other regions)")
        db.add_argument("--tenant-keys", help="JSON file: tenant -> {id, key (32 bytes base64)}")
        db.add_argument("--actor", help="who acts, for the audit log (admin:NAME)")
        return a

    admin("list", "list the tenant's recordings")
    admin("show", "one recording: files, parts, gaps, the holds that keep it").add_argument("recording")
    pol = admin("policy", "set the tenant's (or a link's) recording policy and retention")
    pol.add_argument("policy", choices=["off", "allowed", "required"])
    pol.add_argument("--link")
    pol.add_argument("--retention-days", type=int)
    h = admin("hold", "place a legal hold")
    h.add_argument("--scope", required=True, choices=["meeting", "link", "participant", "tenant"])
    h.add_argument("--target", default="")
    h.add_argument("--reason", required=True)
    admin("holds", "list active legal holds")
    r = admin("release", "release a legal hold")
    r.add_argument("hold")
    d = admin("delete", "delete a recording (refused under a hold)")
    d.add_argument("recording")
    admin("retention", "apply the tenant's retention now")
    e = admin("export", "write a signed export package")
    e.add_argument("recording")
    e.add_argument("--out", required=True, help="a new directory (with --api: or FILE.tar, the tar as sent)")
    e.add_argument("--signing-key", help="with --db: the deployment's Ed25519 key (PEM); the API signs itself")
    dl = admin("download", "one file of a recording (with --api: an audio or video file, under a play ticket)")
    dl.add_argument("recording")
    dl.add_argument("file")
    dl.add_argument("--out", required=True, help="a new file")
    se = admin("subject-export", "GDPR: everything held about one participant")
    se.add_argument("participant")
    se.add_argument("--out", required=True, help="a new directory (with --api: or FILE.tar)")
    sr = admin("subject-erase", "GDPR: erase one participant (--db: where no hold applies; --api: refused whole "
                                "while a hold covers any of their recordings)")
    sr.add_argument("participant")
    return p


def _verify(args: argparse.Namespace) -> int:
    from recording.package import PackageInvalid, verify
    from residency.errors import ResidencyError
    from residency.signing import load_public_keys

    try:
        ok = verify(Path(args.package), load_public_keys(args.public_key))
    except PackageInvalid as e:
        return failed(f"FAILED: {e}")
    except (ResidencyError, OSError) as e:
        return failed(f"castellan recording verify: {e}", 2)
    m = ok.manifest
    print(f"OK: recording {m['recording'].get('id')} of meeting {m['recording'].get('meeting')}: {ok.files} files, "
          f"{ok.audit_records} audit records, recorder {m['recorder'].get('name')}, regions "
          f"{', '.join(m['regions'])}; signed by key {ok.key_id}")
    return 0


def _admin(args: argparse.Namespace) -> int:
    from recording.archive import Archive, RecordingError
    from recording.config import load_tenant_keys
    from recording.holds import HoldScope
    from recording.policy import RecordingPolicy
    from recording.s3config import load_region_s3
    from recording.store import LocalVolumeStore, TenantVault
    from recording.vaults import NoStoreForRegion, RegionVaults, parse_region_volumes
    from residency.db import Database
    from residency.signing import load_or_create_signing_key

    from .recording_api import new_file

    keys = load_tenant_keys(args.tenant_keys)
    vaults: TenantVault | RegionVaults
    try:
        if args.region_volumes or args.region_s3:
            volumes = parse_region_volumes(args.region_volumes) if args.region_volumes else {}
            vaults = RegionVaults.on_stores(volumes, load_region_s3(args.region_s3) if args.region_s3 else {}, keys)
        else:
            vaults = TenantVault(LocalVolumeStore(args.volume), keys)
    except ValueError as e:  # S3ConfigError included
        flags = "--region-volumes / --region-s3" if args.region_s3 else "--region-volumes"
        return failed(f"castellan recording: {flags}: {e}", 2)
    archive = Archive(Database(args.db), vaults)
    t, actor = args.tenant, args.actor
    out: object
    try:
        if args.action in ("list", "show"):
            out = [{"id": r.id, "meeting": r.meeting, "link": r.link, "regions": list(r.regions),
                    "participants": r.participants, "files": [f.name for f in r.files], "ended": r.ended_at is not None,
                    "parts": [{"part": x["part"], "region": x["region"], "recorder": x["recorder"],
                               "files": len(x["files"]), "lost": x.get("lost", False)} for x in r.parts],
                    "gaps": [dict(g) for g in r.gaps]}
                   for r in archive.listing(t, actor)]
            if args.action == "show":
                out = next((r for r in out if r["id"] == args.recording), None)
                if out is None:
                    raise RecordingError("not_found", f"no recording {args.recording}")
        elif args.action == "download":
            with new_file(Path(args.out)) as f:
                n = sum(f.write(c) for c in archive.read(t, args.recording, args.file, actor))
            out = {"file": args.file, "recording": args.recording, "out": args.out, "bytes": n}
        elif args.action == "policy":
            archive.set_policy(t, RecordingPolicy.parse(args.policy), actor, link=args.link,
                               retention_days=args.retention_days)
            out = {"policy": archive.policy(t, args.link).value, "retention_days": archive.retention_days(t)}
        elif args.action == "hold":
            h = archive.place_hold(t, HoldScope.parse(args.scope), args.target, args.reason, actor)
            out = {"hold": h.id, "scope": h.scope.value, "target": h.target}
        elif args.action == "holds":
            out = [{"hold": h.id, "scope": h.scope.value, "target": h.target, "reason": h.reason}
                   for h in archive.holds(t)]
        elif args.action == "release":
            archive.release_hold(t, args.hold, actor)
            out = {"released": args.hold}
        elif args.action == "delete":
            archive.delete(t, args.recording, actor)
            out = {"deleted": args.recording}
        elif args.action == "retention":
            deleted, kept = archive.apply_retention(t, actor)
            out = {"deleted": deleted, "kept_by_hold": kept}
        elif args.action == "export":
            archive.export(t, args.recording, Path(args.out), load_or_create_signing_key(args.signing_key), actor)
            out = {"package": args.out}
        elif args.action == "subject-export":
            out = archive.subject_export(t, args.participant, Path(args.out), actor)
        else:
            out = archive.subject_erase(t, args.participant, actor)
    except RecordingError as e:
        return failed(f"castellan: {e.code}: {e.message}")
    except NoStoreForRegion as e:
        return failed(f"castellan: no_store_for_region: {e}")
    except OSError as e:
        return failed(f"castellan recording {args.action}: {e}")
    finally:
        archive.db.close()
    print(json.dumps(out, indent=1, sort_keys=True))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.action == "verify":
        return _verify(args)
    problem = _mode(args)
    if problem:
        return failed(f"castellan recording {args.action}: {problem}", 2)
    if args.api:
        from . import recording_api

        return recording_api.run(args)
    return _admin(args)


def _mode(args: argparse.Namespace) -> str | None:
    """Through the API (`--api`, or CASTELLAN_API when no --db is given) or on the database: never both, and
    each with what it needs; why not, or None."""
    if args.api and args.db:
        return "--api or --db: choose one"
    if not args.db:
        args.api = args.api or os.environ.get("CASTELLAN_API")
    if args.volume and (args.region_volumes or args.region_s3):
        return "--volume or --region-volumes / --region-s3: choose one"
    volume = "--region-volumes" if args.region_volumes else "--region-s3" if args.region_s3 else "--volume"
    direct = {volume: args.volume or args.region_volumes or args.region_s3, "--tenant-keys": args.tenant_keys,
              "--actor": args.actor, "--signing-key": getattr(args, "signing_key", None)}
    if args.api:
        given = [k for k, v in direct.items() if v]
        return (f"{', '.join(given)}: for --db only (through the API the control plane holds the keys and the "
                "admin key is the actor)") if given else None
    if not args.db:
        return ("no archive given: --api URL with an admin key (--key-file FILE or CASTELLAN_KEY), or --db with "
                "--volume, --tenant-keys and --actor")
    missing = [k for k, v in direct.items() if not v and (k != "--signing-key" or args.action == "export")]
    return f"with --db, also give {', '.join(missing)}" if missing else None
