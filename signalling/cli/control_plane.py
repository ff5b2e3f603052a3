"""`castellan control-plane`: the control plane process. The first start bootstraps an operator key
(CASTELLAN_OPERATOR_KEY if set, otherwise a new one written to <db dir>/operator.key, mode 0600). The key is
never printed: when no file can take it, nothing is created and the process exits saying how to provide one."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from .options import add, config

MAKE_KEY = """python3 -c 'import secrets; print(f"cak_{secrets.token_hex(8)}.{secrets.token_urlsafe(32)}")'"""


def add_parser(sub: Any) -> None:
    cp = sub.add_parser("control-plane", help="run the control plane")
    add(cp, "--host", default="127.0.0.1")
    add(cp, "--port", type=int, default=8000)
    add(cp, "--db", default="castellan.db", help="SQLite file (one replica); its directory also holds the keys")
    add(cp, "--database-url", help="PostgreSQL for several replicas: postgresql://user:password@host:5432/db "
                                  "(env CASTELLAN_DATABASE_URL; keep the password in a Secret)")
    add(cp, "--schema-upgrade", choices=["auto", "never"], default="auto",
        help="auto: upgrade the schema at start (under a lock); never: refuse to start until `castellan db "
             "upgrade` ran")
    add(cp, "--redis-url")
    add(cp, "--signing-key-dir")
    add(cp, "--public-url")
    add(cp, "--trust-forwarded-for", action="store_true",
        help="read the client address from X-Forwarded-For, as added by the trusted proxies in front")
    add(cp, "--trusted-proxies", default="",
        help="CIDRs of those proxies, comma-separated (default: loopback and private networks); the header "
             "counts only when the connection comes from one of them")
    add(cp, "--regions", help="the deployment's regions, a JSON list of {id, jurisdiction, location, display_name} "
                              "(the chart's `regions`): defined at start, audited; a start whose regions contradict "
                              "the stored ones is refused")
    add(cp, "--node-keys", help="node public keys to enroll at start, a JSON list of {region, public_key}")
    add(cp, "--node-key-dir", help="a directory of <region>/node-key.pem private keys (the chart's generated "
                                   "Secrets): their public halves are enrolled for those regions at start")
    add(cp, "--log-level", default="info", choices=["debug", "info", "warning", "error", "critical"])
    add(cp, "--ca-bundle", help="CA certificates (PEM) for the nodes' https health checks (default: the system's)")
    add(cp, "--forwarded-hops", type=int, default=1,
        help="proxies in front that append to X-Forwarded-For (Ingress alone: 1; with a load balancer or CDN "
             "in front: 2); 0 = walk from the right past every trusted proxy")
    add(cp, "--region-header", default="",
        help="the header your regional ingresses set to their region id (e.g. X-Castellan-Region): a joiner is "
             "placed on a node of the region it reached when its tenant allows it. Believed only from the trusted "
             "proxies (needs --trust-forwarded-for); every ingress in front must set or clear it")
    add(cp, "--log-key", help="the transparency log's signing key, an Ed25519 PEM file kept outside the database "
                              "(the chart's transparencyLog.keySecret); default: the audit key (docs/residency.md)")
    add(cp, "--log-key-pkcs11-module", help="sign the transparency log's heads in a PKCS#11 token instead: the "
                                            "module (e.g. /usr/lib/softhsm/libsofthsm2.so)")
    add(cp, "--log-key-pkcs11-token", help="the token's label")
    add(cp, "--log-key-pkcs11-label", default="castellan-log", help="the Ed25519 key pair's label on the token")
    add(cp, "--log-key-pkcs11-pin-file", help="a file holding the token's user PIN")
    add(cp, "--recording-volume", help="the recording volume every region's recorder pool seals onto (compliance "
                                       "recordings, docs/recording.md); unset (and no --recording-region-volumes): "
                                       "the recording API answers recording_not_configured")
    add(cp, "--recording-region-volumes",
        help="instead of --recording-volume, one volume per region: REGION=PATH,REGION=PATH (each region's "
             "recordings are read and deleted on its own volume; a recording of a region not listed is refused)")
    add(cp, "--recording-region-s3",
        help="a region's recordings in an S3-compatible bucket instead of on a volume: a JSON file region -> "
             "{endpoint, bucket, credentials (a directory holding access-key-id and secret-access-key), "
             "signing_region, prefix, ca_bundle} (docs/recording.md); with or without --recording-region-volumes "
             "for other regions")
    add(cp, "--recording-tenant-keys", help="with the recording volume(s): JSON file tenant -> {id, key (32 bytes "
                                            "base64)}, the keys the tenants' recordings are sealed under")
    add(cp, "--recording-signing-key", help="the Ed25519 PEM key that signs recording export packages; default: "
                                            "the audit key (published at /v1/audit/public-key)")
    add(cp, "--recorder-pool-key-dir", help="a directory of <region>/pool-key files (the chart's generated Secrets), "
                                            "each a crk_ recorder pool key enrolled for that region at start")
    add(cp, "--node-origins", default="",
        help="the media nodes' WebSocket origins the client pages may connect to (CSP connect-src), "
             "comma-separated, e.g. wss://*.media.example.org (default: every registered node's URL)")


def _no_key_file(problems: list[str], db_dir: Path) -> SystemExit:
    return SystemExit(
        "castellan: there is no operator key yet, and a new one cannot be written to a file ("
        + "; ".join(problems) + "). No key was created, and none is printed (it would end up in logs).\n"
        f"Either make {db_dir} writable (the key goes to {db_dir / 'operator.key'}, mode 0600), or set\n"
        "CASTELLAN_OPERATOR_KEY to a key kept in your secret store (a deployment secret), made for example with:\n"
        f"  {MAKE_KEY}")


def _open_key_file(places: list[Path]) -> tuple[int, Path, list[str]]:
    """The first place that takes a new 0600 `operator.key` (the key dir may be a read-only secret mount)."""
    problems: list[str] = []
    for d in places:
        path = d / "operator.key"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), path, problems
        except OSError as e:
            problems.append(f"{path}: {e.strerror or e}")
    return -1, Path(), problems


def bootstrap_operator_key(control: Any, provided: str | None, places: list[Path]) -> None:
    """Registers `provided`, or creates the first operator key into a file; raises SystemExit with the remedy
    when neither works (and then leaves no key behind that nobody could know)."""
    if provided:
        try:
            control.ensure_operator_key(provided)
        except ValueError as e:
            raise SystemExit(f"castellan: CASTELLAN_OPERATOR_KEY: {e}") from None
        return
    if control.has_operator_key():
        return
    fd, path, problems = _open_key_file(places)
    if fd < 0:
        raise _no_key_file(problems, places[0])
    key = None
    try:
        key = control.ensure_operator_key()
        with os.fdopen(fd, "w") as f:
            f.write(key + "\n")
    except BaseException as e:
        with contextlib.suppress(OSError):
            path.unlink()
        if key is not None:  # in no file: nobody could know it, so it must not stay valid
            control.revoke_admin_key("bootstrap", tenant="*", key_id=key.removeprefix("cak_").partition(".")[0])
        if isinstance(e, OSError):
            raise _no_key_file([f"{path}: {e.strerror or e}"], places[0]) from None
        raise
    print(f"castellan: created the operator key; it is in {path} (mode 0600)", file=sys.stderr)


def _node_keys(args: argparse.Namespace) -> list[tuple[str, str]]:
    from residency.errors import InvalidInput
    from residency.identity import load_or_create_node_key, public_text

    keys: list[tuple[str, str]] = []
    if args.node_keys:
        try:
            doc = json.loads(args.node_keys)
            keys += [(str(d["region"]), str(d["public_key"])) for d in doc]
        except (ValueError, TypeError, KeyError) as e:
            raise InvalidInput("invalid_node_keys", "CASTELLAN_NODE_KEYS must be a JSON list of {region, public_key} "
                                                    f"({e})") from None
    if args.node_key_dir:
        root = Path(args.node_key_dir)
        for pem in sorted(root.glob("*/node-key.pem")):
            keys.append((pem.parent.name, public_text(load_or_create_node_key(pem, create=False))))
    return keys


def _pool_keys(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(region, key) of every <dir>/<region>/pool-key (the chart mounts its generated pool key Secrets so)."""
    root = getattr(args, "recorder_pool_key_dir", None)
    if not root:
        return []
    return [(f.parent.name, f.read_text().strip()) for f in sorted(Path(root).glob("*/pool-key"))]


def apply_operator_config(cfg: Any, args: argparse.Namespace) -> None:
    """Regions and node keys from the deployment's configuration (flags / CASTELLAN_* from the chart)."""
    from signalling.control.residency_adapter import parse_regions

    if args.regions:
        cfg.regions = [r.to_dict() for r in parse_regions(args.regions)]
    cfg.node_keys = _node_keys(args)
    cfg.ca_bundle = args.ca_bundle or None
    apply_log_key(cfg, args)
    apply_recording(cfg, args)
    cfg.pool_keys = _pool_keys(args)


def apply_recording(cfg: Any, args: argparse.Namespace) -> None:
    """--recording-volume or --recording-region-volumes / --recording-region-s3, with --recording-tenant-keys (all or
    nothing) / --recording-signing-key."""
    from recording.s3config import S3ConfigError, load_region_s3
    from recording.vaults import parse_region_volumes

    volume, keys = getattr(args, "recording_volume", None), getattr(args, "recording_tenant_keys", None)
    regional = getattr(args, "recording_region_volumes", None)
    s3 = getattr(args, "recording_region_s3", None)
    if volume and (regional or s3):
        raise SystemExit("castellan: give either --recording-volume (one volume for every region) or "
                         "--recording-region-volumes / --recording-region-s3 (a store per region), not both")
    if bool(volume or regional or s3) != bool(keys):
        raise SystemExit("castellan: --recording-volume (or --recording-region-volumes / --recording-region-s3) and "
                         "--recording-tenant-keys go together (recordings are sealed under the tenants' keys)")
    try:
        cfg.recording_region_volumes = parse_region_volumes(regional) if regional else {}
    except ValueError as e:
        raise SystemExit(f"castellan: --recording-region-volumes: {e}") from None
    try:
        cfg.recording_region_s3 = load_region_s3(s3) if s3 else {}
    except S3ConfigError as e:
        raise SystemExit(f"castellan: --recording-region-s3: {e}") from None
    both = sorted(set(cfg.recording_region_volumes) & set(cfg.recording_region_s3))
    if both:
        raise SystemExit(f"castellan: region(s) {', '.join(both)} given both a volume and an S3 bucket: choose one")
    cfg.recording_volume = Path(volume) if volume else None
    cfg.recording_tenant_keys = Path(keys) if keys else None
    signing = getattr(args, "recording_signing_key", None)
    cfg.recording_signing_key = Path(signing) if signing else None


def apply_log_key(cfg: Any, args: argparse.Namespace) -> None:
    """--log-key / --log-key-pkcs11-*: where the transparency log's heads are signed (residency/logkey.py)."""
    from residency.logkey import Pkcs11Config

    module = getattr(args, "log_key_pkcs11_module", None)
    if module:
        if not args.log_key_pkcs11_token or not args.log_key_pkcs11_pin_file:
            raise SystemExit("castellan: --log-key-pkcs11-module needs --log-key-pkcs11-token and "
                             "--log-key-pkcs11-pin-file")
        pin = Path(args.log_key_pkcs11_pin_file).read_text().strip()
        cfg.log_key_pkcs11 = Pkcs11Config(module=module, token=args.log_key_pkcs11_token, pin=pin,
                                          label=args.log_key_pkcs11_label)
    elif getattr(args, "log_key", None):
        cfg.log_key = Path(args.log_key)


def run_control_plane(args: argparse.Namespace) -> int:
    import uvicorn

    from residency.errors import ResidencyError
    from signalling.control.app import create_app
    from signalling.control.csp import parse_origins
    from signalling.control.recorderpools import PoolKeyConfigError
    from signalling.control.recordings import RecordingConfigError
    from signalling.control.regionhint import header_name

    cfg = config(args)
    cfg.public_url = args.public_url or f"http://{args.host}:{args.port}"
    cfg.trust_forwarded_for = args.trust_forwarded_for
    cfg.trusted_proxies = tuple(p.strip() for p in args.trusted_proxies.split(",") if p.strip())
    cfg.forwarded_hops = args.forwarded_hops
    try:
        cfg.forwarded_rule()
    except ValueError as e:
        raise SystemExit(f"castellan: --trusted-proxies / --forwarded-hops: {e}") from None
    if args.region_header:
        if not cfg.trust_forwarded_for:
            raise SystemExit("castellan: --region-header is believed only from trusted proxies: it needs "
                             "--trust-forwarded-for (and --trusted-proxies naming your ingresses)")
        try:
            cfg.region_header = header_name(args.region_header)
        except ValueError as e:
            raise SystemExit(f"castellan: --region-header: {e}") from None
    cfg.schema_upgrade = args.schema_upgrade == "auto"
    try:
        cfg.node_origins = parse_origins(args.node_origins)
    except ValueError as e:
        raise SystemExit(f"castellan: --node-origins: {e}") from None
    try:
        apply_operator_config(cfg, args)
        app = create_app(cfg)
    except ResidencyError as e:  # the database: unreachable, or behind this release with --schema-upgrade never
        raise SystemExit(f"castellan: {e.code}: {e.message}") from None
    except (RecordingConfigError, PoolKeyConfigError) as e:
        raise SystemExit(f"castellan: recording configuration: {e}") from None
    bootstrap_operator_key(app.state.control, os.environ.get("CASTELLAN_OPERATOR_KEY") or None,
                           [Path(cfg.db).resolve().parent, cfg.key_dir()])
    # its access log has link ids and lobby tickets redacted (create_app installs signalling/control/accesslog.py)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, proxy_headers=False)
    return 0
