"""A real S3-compatible server on loopback for the recording store's tests: @20minutes/s3rver (a lightweight S3
server in Node.js that keeps objects as files under its directory; not MinIO), started by
tests/support/s3rver/serve.cjs with this run's own access key pair, so a request signs (SigV4) with that secret
or is refused. What it proves: the real S3 REST protocol through boto3 over HTTP — SigV4, PUT and multipart
upload, ranged GET, HEAD, ListObjectsV2, DELETE, conditional PUT — and, since its objects are plain files
(`<dir>/<bucket>/<key>._S3rver_object`), what reached the bucket can be read and altered behind its back.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path

from recording.s3config import ACCESS_KEY_FILE, SECRET_FILE, S3Location
from tests.support.processes import REPO, Proc
from tests.support.waiting import wait_until

PACKAGE = REPO / "tests" / "support" / "s3rver"
OBJECT_SUFFIX = "._S3rver_object"


def missing() -> str | None:
    """Why the server cannot start here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (scripts/setup.sh --test installs nodejs)"
    if not (PACKAGE / "node_modules" / "@20minutes" / "s3rver").is_dir():
        return "tests/support/s3rver is not installed (scripts/setup.sh --test runs npm ci there)"
    return None


class S3Server:
    """One server on 127.0.0.1 (a port the kernel picks) with `buckets` created, its objects under `root`."""

    def __init__(self, root: Path, buckets: list[str], name: str = "s3") -> None:
        self.root = root
        self.data = root / "data"
        self.data.mkdir(parents=True)
        self.credentials = root / "credentials"  # what a deployment mounts: two files, never a flag
        self.credentials.mkdir(mode=0o700)
        self.access_key = "CASTELLAN" + secrets.token_hex(6).upper()
        self.secret = secrets.token_urlsafe(30)
        (self.credentials / ACCESS_KEY_FILE).write_text(self.access_key + "\n")
        (self.credentials / SECRET_FILE).write_text(self.secret + "\n")
        pair = root / "server-credentials"
        pair.write_text(f"{self.access_key}\n{self.secret}\n")
        os.chmod(pair, 0o600)
        argv = ["node", str(PACKAGE / "serve.cjs"), "--directory", str(self.data), "--credentials", str(pair),
                "--address", "127.0.0.1"]
        for b in buckets:
            argv += ["--bucket", b]
        self.proc = Proc(name, argv, root / "server.log")
        line = wait_until(self._announced, 20, 0.05)
        if not line:
            self.proc.stop()
            raise RuntimeError(f"the S3 server did not start\n{self.proc.tail()}")
        self.port = int(json.loads(line)["port"])
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def _announced(self) -> str | None:
        if not self.proc.alive():
            return "{}"
        first = self.proc.output().partition("\n")
        return first[0] if first[1] and first[0].startswith("{") else None

    def location(self, bucket: str, credentials: Path | None = None, prefix: str = "") -> S3Location:
        return S3Location(endpoint=self.endpoint, bucket=bucket, credentials_dir=credentials or self.credentials,
                          prefix=prefix)

    def config(self, bucket: str, credentials: Path | None = None) -> dict[str, str]:
        """The entry of a `--recording-region-s3` file for `bucket` on this server."""
        return {"endpoint": self.endpoint, "bucket": bucket, "credentials": str(credentials or self.credentials)}

    def object_file(self, bucket: str, key: str) -> Path:
        """Where the server keeps `key`'s bytes: an attacker with the storage's disk edits it here."""
        return self.data / bucket / (key + OBJECT_SUFFIX)

    def objects(self, bucket: str | None = None) -> list[str]:
        """Every object on this server (in `bucket`, or as bucket/key in any), from its disk, not through S3."""
        base = self.data / bucket if bucket else self.data
        if not base.is_dir():
            return []
        return sorted(str(p.relative_to(base))[:-len(OBJECT_SUFFIX)] for p in base.rglob("*" + OBJECT_SUFFIX))

    def stop(self) -> None:
        self.proc.stop()
