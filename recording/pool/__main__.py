"""`python -m recording.pool` (`castellan recorder-pool`): a region's recorder pool. See recording/pool/__init__.py
and docs/recording.md, "Launching recorders"."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recording.archive import Archive
from recording.config import load_tenant_keys
from recording.s3config import S3ConfigError, load_location
from recording.store import LocalVolumeStore, ObjectStore, TenantVault
from residency.db import Database

from .attestation import RecorderKeys
from .intake import Intake
from .job import SEGMENT_S
from .launcher import CHROMIUM, RecorderPage
from .pool import LinkSecrets, RecorderPool

# option -> the env var that sets it: how the Helm chart configures the pool (signalling/settings.py lists them,
# tests/helm/test_settings.py holds the chart to this table)
ENV: dict[str, str] = {
    "--control-plane-url": "CASTELLAN_CONTROL_PLANE_URL",
    "--key-file": "CASTELLAN_RECORDER_POOL_KEY_FILE",
    "--pool-id": "CASTELLAN_RECORDER_POOL_ID",
    "--capacity": "CASTELLAN_RECORDER_POOL_CAPACITY",
    "--client-url": "CASTELLAN_CLIENT_URL",
    "--database": "CASTELLAN_DATABASE_URL",
    "--volume": "CASTELLAN_RECORDING_VOLUME",
    "--s3": "CASTELLAN_RECORDING_S3",
    "--tenant-keys": "CASTELLAN_RECORDING_TENANT_KEYS",
    "--link-secrets": "CASTELLAN_RECORDER_LINK_SECRETS",
    "--recorder-key": "CASTELLAN_RECORDER_KEY",
    "--workdir": "CASTELLAN_RECORDER_WORKDIR",
    "--segment-seconds": "CASTELLAN_RECORDER_SEGMENT_SECONDS",
    "--chromium": "CASTELLAN_CHROMIUM",
    "--log-level": "CASTELLAN_LOG_LEVEL",
}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="castellan recorder-pool", description="a region's recorder pool")

    def add(flag: str, required: bool = False, default: str | None = None, **kw: Any) -> None:
        value = os.environ.get(ENV[flag], default)
        ap.add_argument(flag, default=value, required=required and value is None, **kw)

    add("--control-plane-url", required=True)
    add("--key-file", required=True,
        help="file holding this region's recorder pool key (crk_...; POST /v1/recorder-pool-keys)")
    add("--pool-id", required=True)
    add("--capacity", default="2", type=int)
    add("--client-url", required=True,
        help="the control plane's URL serving the production client (the page is handed its job, never a URL)")
    add("--database", required=True, help="the archive's database (the control plane's)")
    add("--volume", help="the region's recording volume the pool seals onto (or --s3)")
    add("--s3", help="instead of --volume: the region's S3 bucket, a JSON file {endpoint, bucket, credentials (a "
                     "directory holding access-key-id and secret-access-key), signing_region, prefix, ca_bundle}")
    add("--tenant-keys", required=True)
    add("--link-secrets",
        help="JSON {link: secret} of the meetings this pool may record (the control plane never has them)")
    add("--recorder-key",
        help="JSON {tenant: private key}: the tenants' recorder keys, whose public half their links carry (r=); "
             "a member then hands the recorder the link's secrets (docs/recording.md)")
    add("--workdir", default="/tmp/castellan-recorder",
        help="the open part files, in the clear until sealed (mount memory here)")
    add("--chromium", default=CHROMIUM)
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between announcements (at most 2)")
    add("--segment-seconds", default=str(SEGMENT_S), type=float,
        help="each track's file is closed and sealed into the vault this often (a killed pool loses "
             "at most this, plus a few seconds)")
    add("--log-level", default="info")
    return ap


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = parser()
    args = ap.parse_args(argv)
    if not 0.1 <= args.interval <= 2.0:
        ap.error("--interval must be between 0.1 and 2 seconds (the control plane forgets a pool after 6)")
    if not 5 <= args.segment_seconds <= 3600:
        ap.error("--segment-seconds must be between 5 and 3600")
    if bool(args.volume) == bool(args.s3):
        ap.error("give the store the pool seals onto: --volume DIR or --s3 FILE (one of them)")
    if not args.link_secrets and not args.recorder_key:
        ap.error("give --recorder-key, --link-secrets or both: without either no meeting can be recorded")
    return args


def open_store(args: argparse.Namespace) -> ObjectStore:
    """The region's store the pool seals onto: its volume, or its S3 bucket (a bad location file or unreadable
    credentials stop the start, saying which)."""
    if args.volume:
        return LocalVolumeStore(Path(args.volume))
    from recording.s3 import S3Store

    try:
        return S3Store(load_location(args.s3))
    except S3ConfigError as e:
        raise SystemExit(f"castellan recorder-pool: --s3: {e}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from playwright.sync_api import sync_playwright

    key = Path(args.key_file).read_text().strip()
    archive = Archive(Database(args.database), TenantVault(open_store(args), load_tenant_keys(args.tenant_keys)))
    workroot = Path(args.workdir)
    workroot.mkdir(mode=0o700, parents=True, exist_ok=True)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    intake = Intake(args.control_plane_url, key, args.pool_id, args.capacity)
    try:
        with sync_playwright() as pw:
            pool = RecorderPool(intake, archive, workroot, args.client_url,
                                LinkSecrets(Path(args.link_secrets)) if args.link_secrets else None,
                                lambda url, job: RecorderPage(pw, url, job, args.chromium),
                                segment_s=args.segment_seconds,
                                recorder_keys=RecorderKeys(Path(args.recorder_key)) if args.recorder_key else None)
            logging.getLogger("castellan.recorder.pool").info("recorder pool %s (capacity %d) announcing to %s",
                                                              args.pool_id, args.capacity, args.control_plane_url)
            pool.run(stopping, args.interval)
    finally:
        intake.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
