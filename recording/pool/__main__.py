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

from recording.archive import Archive
from recording.config import load_tenant_keys
from recording.store import LocalVolumeStore, TenantVault
from residency.db import Database

from .intake import Intake
from .launcher import CHROMIUM, RecorderPage
from .pool import LinkSecrets, RecorderPool


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"CASTELLAN_{name.upper()}", default)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="castellan recorder-pool", description="a region's recorder pool")
    ap.add_argument("--control-plane-url", default=_env("control_plane_url"), required=_env("control_plane_url") is None)
    ap.add_argument("--key-file", default=_env("recorder_pool_key_file"), required=_env("recorder_pool_key_file") is None,
                    help="file holding this region's recorder pool key (crk_...; POST /v1/recorder-pool-keys)")
    ap.add_argument("--pool-id", default=_env("recorder_pool_id"), required=_env("recorder_pool_id") is None)
    ap.add_argument("--capacity", type=int, default=int(_env("recorder_pool_capacity", "2") or 2))
    ap.add_argument("--client-url", default=_env("client_url"), required=_env("client_url") is None,
                    help="where the recorder page is served (a development build: it honours ?recorder=)")
    ap.add_argument("--database", default=_env("database_url"), required=_env("database_url") is None,
                    help="the archive's database (the control plane's)")
    ap.add_argument("--volume", default=_env("recording_volume"), required=_env("recording_volume") is None)
    ap.add_argument("--tenant-keys", default=_env("recording_tenant_keys"),
                    required=_env("recording_tenant_keys") is None)
    ap.add_argument("--link-secrets", default=_env("recorder_link_secrets"),
                    required=_env("recorder_link_secrets") is None,
                    help="JSON {link: secret} of the meetings this pool may record (the control plane never has them)")
    ap.add_argument("--workdir", default=_env("recorder_workdir", "/tmp/castellan-recorder"),
                    help="the open part files, in the clear until sealed (mount memory here)")
    ap.add_argument("--chromium", default=CHROMIUM)
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between announcements (at most 2)")
    ap.add_argument("--log-level", default="info")
    args = ap.parse_args(argv)
    if not 0.1 <= args.interval <= 2.0:
        ap.error("--interval must be between 0.1 and 2 seconds (the control plane forgets a pool after 6)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from playwright.sync_api import sync_playwright

    key = Path(args.key_file).read_text().strip()
    archive = Archive(Database(args.database),
                      TenantVault(LocalVolumeStore(Path(args.volume)), load_tenant_keys(args.tenant_keys)))
    workroot = Path(args.workdir)
    workroot.mkdir(mode=0o700, parents=True, exist_ok=True)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    intake = Intake(args.control_plane_url, key, args.pool_id, args.capacity)
    try:
        with sync_playwright() as pw:
            pool = RecorderPool(intake, archive, workroot, args.client_url, LinkSecrets(Path(args.link_secrets)),
                                lambda url: RecorderPage(pw, url, args.chromium))
            logging.getLogger("castellan.recorder.pool").info("recorder pool %s (capacity %d) announcing to %s",
                                                              args.pool_id, args.capacity, args.control_plane_url)
            pool.run(stopping, args.interval)
    finally:
        intake.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
