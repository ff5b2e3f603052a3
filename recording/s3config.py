"""Where each region's S3 bucket is (`--recording-region-s3 FILE`, CASTELLAN_RECORDING_REGION_S3), read at the
edge and strictly. The file is JSON, region -> location:

    {"eu-1": {"endpoint": "https://s3.eu-central.example.org", "bucket": "castellan-rec-eu-1",
              "credentials": "/etc/castellan/s3/eu-1", "signing_region": "eu-central-1",
              "prefix": "recordings/", "ca_bundle": "/etc/castellan/ca.pem"}}

A recorder pool seals into one bucket: its `--s3 FILE` holds one such location object (no region around it).

`credentials` is a directory holding two files, `access-key-id` and `secret-access-key` (a Kubernetes Secret with
those two keys, mounted): credentials are never in this file, on a command line or in a URL, so they never reach
a process listing or a log. `signing_region` (SigV4's region; default us-east-1), `prefix` and `ca_bundle` are
optional.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .store import check_name

_REGION = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")  # residency.model's region ids
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SIGNING_REGION = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_FIELDS = {"endpoint", "bucket", "credentials", "signing_region", "prefix", "ca_bundle"}
ACCESS_KEY_FILE = "access-key-id"
SECRET_FILE = "secret-access-key"


class S3ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class S3Location:
    endpoint: str
    bucket: str
    credentials_dir: Path
    signing_region: str = "us-east-1"
    prefix: str = ""
    ca_bundle: Path | None = None

    def credentials(self) -> tuple[str, str]:
        """(access key id, secret), read from the credentials directory when a store is opened."""
        out = []
        for name in (ACCESS_KEY_FILE, SECRET_FILE):
            path = self.credentials_dir / name
            try:
                value = path.read_text().strip()
            except OSError as e:
                raise S3ConfigError(f"S3 credentials for bucket {self.bucket!r}: {path} cannot be read "
                                    f"({e.strerror or type(e).__name__})") from None
            if not value or any(c.isspace() for c in value):
                raise S3ConfigError(f"S3 credentials for bucket {self.bucket!r}: {path} must hold one value")
            out.append(value)
        return out[0], out[1]

    @property
    def identity(self) -> tuple[str, str, str]:
        """What makes two regions' locations one store (they then share a vault: one data key per tenant)."""
        return self.endpoint, self.bucket, self.prefix


def _location(region: str, v: object) -> S3Location:
    if not isinstance(v, dict):
        raise S3ConfigError(f"{region}: expected an object with endpoint, bucket and credentials")
    secretish = [k for k in v if "secret" in k.lower() or "access" in k.lower()]
    if secretish:
        raise S3ConfigError(f"{region}: {', '.join(sorted(secretish))}: credentials are not given in this file; "
                            f"\"credentials\" names a directory holding {ACCESS_KEY_FILE} and {SECRET_FILE}")
    unknown = sorted(set(v) - _FIELDS)
    if unknown:
        raise S3ConfigError(f"{region}: unknown field(s) {', '.join(unknown)}")
    for need in ("endpoint", "bucket", "credentials"):
        if not isinstance(v.get(need), str) or not v[need]:
            raise S3ConfigError(f"{region}: {need!r} is required (a string)")
    for opt in ("signing_region", "prefix", "ca_bundle"):
        if opt in v and not isinstance(v[opt], str):
            raise S3ConfigError(f"{region}: {opt!r} must be a string")
    url = urlsplit(v["endpoint"])
    if url.scheme not in ("http", "https") or not url.hostname:
        raise S3ConfigError(f"{region}: endpoint must be an http(s) URL")
    if url.username is not None or url.password is not None:
        raise S3ConfigError(f"{region}: the endpoint URL must not carry credentials (use \"credentials\")")
    if url.query or url.fragment or url.path not in ("", "/"):
        raise S3ConfigError(f"{region}: the endpoint is scheme://host[:port] only (the bucket is \"bucket\")")
    if not _BUCKET.match(v["bucket"]):
        raise S3ConfigError(f"{region}: {v['bucket']!r} is not an S3 bucket name")
    signing = v.get("signing_region", "us-east-1")
    if not _SIGNING_REGION.match(signing):
        raise S3ConfigError(f"{region}: {signing!r} is not a signing region")
    prefix = v.get("prefix", "")
    if prefix:
        try:
            check_name(prefix.rstrip("/"))
        except ValueError:
            raise S3ConfigError(f"{region}: {prefix!r} is not a key prefix (name/name/…)") from None
        prefix = prefix.rstrip("/") + "/"
    return S3Location(endpoint=f"{url.scheme}://{url.netloc}", bucket=v["bucket"],
                      credentials_dir=Path(v["credentials"]), signing_region=signing, prefix=prefix,
                      ca_bundle=Path(v["ca_bundle"]) if v.get("ca_bundle") else None)


def parse_region_s3(text: str) -> dict[str, S3Location]:
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise S3ConfigError(f"not JSON: {e}") from None
    if not isinstance(doc, dict) or not doc:
        raise S3ConfigError("expected an object of region -> {endpoint, bucket, credentials}")
    out = {}
    for region, v in doc.items():
        if not _REGION.match(region):
            raise S3ConfigError(f"{region!r} is not a region id")
        out[region] = _location(region, v)
    return out


def load_region_s3(path: str | Path) -> dict[str, S3Location]:
    """The file's region -> S3Location; `S3ConfigError` saying what is wrong (never a credential's value)."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise S3ConfigError(f"{path}: {e.strerror or type(e).__name__}") from None
    try:
        return parse_region_s3(text)
    except S3ConfigError as e:
        raise S3ConfigError(f"{path}: {e}") from None


def load_location(path: str | Path) -> S3Location:
    """One location object (a recorder pool's `--s3 FILE`: the bucket it seals into)."""
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as e:
        raise S3ConfigError(f"{path}: {e.strerror or type(e).__name__}") from None
    except ValueError as e:
        raise S3ConfigError(f"{path}: not JSON: {e}") from None
    return _location(str(path), doc)
