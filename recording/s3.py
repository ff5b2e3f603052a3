"""`S3Store`: an `ObjectStore` (store.py) in a bucket of an S3-compatible object store (AWS S3, Ceph RGW, MinIO,
Garage, a cloud provider's S3 endpoint), through boto3. What reaches it is already sealed (TenantVault): the bucket
holds ciphertext and the wrapped data keys only, and an object altered there fails to authenticate on read.

The S3 calls: `put` a PUT (a multipart upload beyond `part_size`: a long recording is never held whole in
memory), `put_new` a PUT with `If-None-Match: *` (the conditional write: two writers creating a tenant's data key
agree on one), `get` a streamed GET, `size` a HEAD, `read_at` a GET with a Range, `delete` a HEAD then a DELETE,
`list` a paginated ListObjectsV2. A refusal or an unreachable endpoint is a `StoreUnavailable` naming the
endpoint, bucket and S3 error code — never the credentials.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .envelope import CHUNK
from .s3config import S3Location
from .store import StoreUnavailable, check_name

log = logging.getLogger("castellan.recording.s3")
MIN_PART = 5 << 20  # S3's smallest part of a multipart upload (all but the last)
_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3Store:
    def __init__(self, location: S3Location, part_size: int = 16 << 20) -> None:
        if part_size < MIN_PART:
            raise ValueError(f"part_size must be at least {MIN_PART} bytes (S3's smallest part)")
        self.location = location
        self.bucket = location.bucket
        self.part_size = part_size
        access_key, secret = location.credentials()
        self._s3: Any = boto3.session.Session().client(
            "s3", endpoint_url=location.endpoint, region_name=location.signing_region,
            aws_access_key_id=access_key, aws_secret_access_key=secret,
            verify=str(location.ca_bundle) if location.ca_bundle else True,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},  # the bucket in the path: works on every S3-compatible server
                # checksums only where S3 requires them: the newer default (a streamed CRC trailer) is refused
                # by some S3-compatible servers, and the envelope authenticates every byte anyway
                request_checksum_calculation="when_required", response_checksum_validation="when_required",
                retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60))

    def __repr__(self) -> str:
        return f"S3Store({self.location.endpoint}, bucket={self.bucket!r}, prefix={self.location.prefix!r})"

    def _key(self, key: str) -> str:
        return self.location.prefix + check_name(key)

    def _failed(self, what: str, key: str, e: Exception) -> StoreUnavailable:
        if isinstance(e, ClientError):
            err = e.response.get("Error", {})
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
            code = str(err.get("Code", "?"))
            why = f"HTTP {status}" if code == str(status) else f"{code} (HTTP {status})"  # a HEAD has no error body
            if code in ("SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied") or status in (401, 403):
                why += ": the store refused this deployment's credentials (or their access to the bucket)"
        else:
            why = type(e).__name__ + (f": {e}" if isinstance(e, BotoCoreError) else "")
        return StoreUnavailable(f"S3 {what} of {key!r} in bucket {self.bucket!r} at {self.location.endpoint} "
                                f"failed: {why}")

    @staticmethod
    def _missing(e: Exception) -> bool:
        return isinstance(e, ClientError) and str(e.response.get("Error", {}).get("Code")) in _MISSING

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        name = self._key(key)
        buf = bytearray()
        parts: list[dict[str, Any]] = []
        upload: str | None = None
        size = 0
        try:
            for c in chunks:
                buf += c
                size += len(c)
                while len(buf) >= self.part_size:
                    if upload is None:
                        upload = self._s3.create_multipart_upload(Bucket=self.bucket, Key=name)["UploadId"]
                    body = bytes(buf[:self.part_size])
                    del buf[:self.part_size]
                    r = self._s3.upload_part(Bucket=self.bucket, Key=name, UploadId=upload,
                                             PartNumber=len(parts) + 1, Body=body)
                    parts.append({"PartNumber": len(parts) + 1, "ETag": r["ETag"]})
            if upload is None:  # small: one PUT, the object appears whole or not at all
                self._s3.put_object(Bucket=self.bucket, Key=name, Body=bytes(buf))
                return size
            if buf:
                r = self._s3.upload_part(Bucket=self.bucket, Key=name, UploadId=upload,
                                         PartNumber=len(parts) + 1, Body=bytes(buf))
                parts.append({"PartNumber": len(parts) + 1, "ETag": r["ETag"]})
            self._s3.complete_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload,
                                               MultipartUpload={"Parts": parts})
            return size
        except (ClientError, BotoCoreError) as e:
            self._abort(name, upload)
            raise self._failed("PUT", key, e) from None
        except BaseException:
            self._abort(name, upload)  # the chunks' source failed (e.g. sealing): no half-uploaded parts left
            raise

    def _abort(self, name: str, upload: str | None) -> None:
        if upload is None:
            return
        try:
            self._s3.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload)
        except (ClientError, BotoCoreError) as e:  # the bucket's lifecycle rule for incomplete uploads is the backstop
            log.warning("%s; its uploaded parts stay until the bucket's lifecycle rule removes them",
                        self._failed("abort of the multipart upload", name, e))

    def put_new(self, key: str, data: bytes) -> bool:
        try:
            self._s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*")
        except ClientError as e:
            # 412: the key exists; 409: a concurrent conditional write of it is in progress (AWS) — either way
            # another writer got there first, and the caller reads what it stored
            if e.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise self._failed("conditional PUT", key, e) from None
        except BotoCoreError as e:
            raise self._failed("conditional PUT", key, e) from None
        return True

    def get(self, key: str) -> Iterator[bytes]:
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except (ClientError, BotoCoreError) as e:
            if self._missing(e):
                raise FileNotFoundError(key) from None
            raise self._failed("GET", key, e) from None
        return self._stream(key, body)

    def _stream(self, key: str, body: Any) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(CHUNK)
        except (ClientError, BotoCoreError) as e:
            raise self._failed("GET", key, e) from None
        finally:
            body.close()

    def size(self, key: str) -> int:
        try:
            return int(self._s3.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"])
        except (ClientError, BotoCoreError) as e:
            if self._missing(e):
                raise FileNotFoundError(key) from None
            raise self._failed("HEAD", key, e) from None

    def read_at(self, key: str, offset: int, length: int) -> bytes:
        """Up to `length` bytes from `offset` (fewer at the end of the object, none past it), as a pread."""
        if length <= 0:
            return b""
        try:
            r = self._s3.get_object(Bucket=self.bucket, Key=self._key(key),
                                    Range=f"bytes={offset}-{offset + length - 1}")
            body = r["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()
        except (ClientError, BotoCoreError) as e:
            if self._missing(e):
                raise FileNotFoundError(key) from None
            if isinstance(e, ClientError) and e.response.get("Error", {}).get("Code") == "InvalidRange":
                return b""  # the offset is at or past the end
            raise self._failed("ranged GET", key, e) from None

    def delete(self, key: str) -> bool:
        try:
            self.size(key)
        except FileNotFoundError:
            return False
        try:
            self._s3.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError) as e:
            raise self._failed("DELETE", key, e) from None
        return True

    def list(self, prefix: str) -> list[str]:
        """Every key under `prefix` as a directory (what LocalVolumeStore.list gives), relative to the store."""
        base = self._key(prefix.rstrip("/")) + "/"
        out: list[str] = []
        try:
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base):
                out += [o["Key"][len(self.location.prefix):] for o in page.get("Contents", ())]
        except (ClientError, BotoCoreError) as e:
            raise self._failed("LIST", prefix, e) from None
        return sorted(out)
