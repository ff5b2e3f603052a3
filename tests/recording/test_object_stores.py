"""The recording store's contract, held against both stores a region can have: its local volume and an S3 bucket
(recording/s3.py, against a real S3-compatible server on loopback: tests/support/s3server.py). Each test runs on
both: what reaches the storage is sealed, a fresh process reads it back, a ranged read fetches only the chunks it
touches, an object altered in the storage fails to authenticate, two writers agree on a tenant's data key, and
deletion and listing behave alike. Then the S3-only hostile side: wrong credentials are refused with a clear error
that names neither the secret nor anything sealed, an endpoint that is down is a clear error, and the location
file is read strictly (no credentials in it, none in a URL)."""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from recording import envelope
from recording.envelope import EnvelopeError
from recording.s3 import MIN_PART, S3Store
from recording.s3config import ACCESS_KEY_FILE, SECRET_FILE, S3ConfigError, parse_region_s3
from recording.store import LocalVolumeStore, ObjectStore, StoreUnavailable, TenantVault
from tests.fixtures.s3 import StartS3

KEK_A = os.urandom(32)
KEYS = {"acme": ("acme-2026", KEK_A)}
C = envelope.CHUNK
FRAME = 4 + C + 16  # one full sealed chunk
BUCKET = "rec-eu-1"


@dataclass
class Backend:
    """A store kind and the storage under it, seen directly (the volume's files, the S3 server's disk)."""

    kind: str
    make: Callable[[], ObjectStore]  # a fresh store on the same storage (another process)
    raw: Callable[[str], bytes]
    write_raw: Callable[[str, bytes], None]
    keys: Callable[[], list[str]]


@pytest.fixture(params=["volume", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "volume":
        root = tmp_path / "volume"
        return Backend("volume", lambda: LocalVolumeStore(root), lambda k: (root / k).read_bytes(),
                       lambda k, b: (root / k).write_bytes(b),
                       lambda: sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()))
    start: StartS3 = request.getfixturevalue("s3_server")
    server = start(BUCKET)
    return Backend("s3", lambda: S3Store(server.location(BUCKET), part_size=MIN_PART),
                   lambda k: server.object_file(BUCKET, k).read_bytes(),
                   lambda k, b: server.object_file(BUCKET, k).write_bytes(b),
                   lambda: server.objects(BUCKET))


class Counting:
    """Any store, counting what ranged reads take from it."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.read_bytes = 0

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        return self.inner.put(key, chunks)

    def put_new(self, key: str, data: bytes) -> bool:
        return self.inner.put_new(key, data)

    def get(self, key: str) -> Iterator[bytes]:
        return self.inner.get(key)

    def size(self, key: str) -> int:
        return self.inner.size(key)

    def read_at(self, key: str, offset: int, length: int) -> bytes:
        out = self.inner.read_at(key, offset, length)
        self.read_bytes += len(out)
        return out

    def delete(self, key: str) -> bool:
        return self.inner.delete(key)

    def list(self, prefix: str) -> list[str]:
        return self.inner.list(prefix)


def test_objects_are_sealed_in_the_store_and_a_fresh_process_reads_them(backend: Backend) -> None:
    v = TenantVault(backend.make(), KEYS)
    secret = b"confidential board minutes " * 300_000  # 8 MiB: several chunks, and a multipart upload on S3
    assert v.put("acme", "rec-1/chat.jsonl", [secret[i:i + 100_000] for i in range(0, len(secret), 100_000)]) \
        == envelope.sealed_size(len(secret))
    v.put("acme", "rec-1/timeline.jsonl", [b'{"kind": "join"}\n'])
    assert backend.keys() == ["acme/dek.json", "acme/rec-1/chat.jsonl", "acme/rec-1/timeline.jsonl"]
    for key in backend.keys():
        assert b"confidential" not in backend.raw(key) and b"join" not in backend.raw(key)
    assert len(backend.raw("acme/rec-1/chat.jsonl")) == envelope.sealed_size(len(secret))
    fresh = TenantVault(backend.make(), KEYS)  # unwraps the stored data key
    assert fresh.read("acme", "rec-1/chat.jsonl") == secret
    assert fresh.list("acme", "rec-1") == ["rec-1/chat.jsonl", "rec-1/timeline.jsonl"]
    assert fresh.list("acme", "rec-2") == []


def test_a_range_reads_only_the_chunks_it_touches(backend: Backend) -> None:
    size = 7 * C + 777
    store = Counting(backend.make())
    v = TenantVault(store, KEYS)
    data = os.urandom(size)
    v.put("acme", "rec-1/cam.webm", [data])
    for first, last in ((0, 0), (C - 1, C), (3 * C + 5, 5 * C + 9), (size - 1, size - 1), (0, size - 1)):
        store.read_bytes = 0
        assert b"".join(v.get_range("acme", "rec-1/cam.webm", size, first, last)) == data[first:last + 1]
        touched = last // C - first // C + 1
        assert store.read_bytes <= envelope.HEADER + touched * FRAME, (first, last, store.read_bytes)
    store.read_bytes = 0
    b"".join(v.get_range("acme", "rec-1/cam.webm", size, size - 1, size - 1))
    assert store.read_bytes == envelope.HEADER + 4 + 777 + 16  # the header and the last chunk, nothing before


@pytest.mark.parametrize("attack", ["flip", "chunk_from_another_recording", "truncate"])
def test_an_object_altered_in_the_store_fails_to_authenticate(backend: Backend, attack: str) -> None:
    """Whoever can write the storage under the store (the bucket's disk, the volume) alters a sealed object: a
    full read and a ranged read both fail, and no byte of a wrong chunk comes out."""
    v = TenantVault(backend.make(), KEYS)
    size = 4 * C + 100
    data, theirs = os.urandom(size), os.urandom(size)
    v.put("acme", "rec-1/cam.webm", [data])
    v.put("acme", "rec-2/cam.webm", [theirs])
    raw = bytearray(backend.raw("acme/rec-1/cam.webm"))
    at = envelope.HEADER + 2 * FRAME  # chunk 2
    if attack == "flip":
        raw[at + 100] ^= 1
    elif attack == "chunk_from_another_recording":
        raw[at:at + FRAME] = backend.raw("acme/rec-2/cam.webm")[at:at + FRAME]
    else:
        del raw[envelope.HEADER + 4 * FRAME:]
    backend.write_raw("acme/rec-1/cam.webm", bytes(raw))
    fresh = TenantVault(backend.make(), KEYS)
    with pytest.raises(EnvelopeError):
        fresh.read("acme", "rec-1/cam.webm")
    got = []
    first, last = (2 * C + 10, 2 * C + 20) if attack != "truncate" else (4 * C, 4 * C + 5)
    with pytest.raises(EnvelopeError):
        for piece in fresh.get_range("acme", "rec-1/cam.webm", size, first, last):
            got.append(piece)
    assert got == []
    assert fresh.read("acme", "rec-2/cam.webm") == theirs  # the untouched object still opens


def test_deletion_and_missing_objects(backend: Backend) -> None:
    store = backend.make()
    v = TenantVault(store, KEYS)
    v.put("acme", "rec-1/a.webm", [b"a"])
    v.put("acme", "rec-1/b.webm", [b"b"])
    assert v.delete("acme", "rec-1/a.webm") is True
    assert v.delete("acme", "rec-1/a.webm") is False
    assert backend.keys() == ["acme/dek.json", "acme/rec-1/b.webm"]
    with pytest.raises(FileNotFoundError):
        v.read("acme", "rec-1/a.webm")
    with pytest.raises(FileNotFoundError):
        store.size("acme/rec-1/a.webm")
    sealed = store.size("acme/rec-1/b.webm")
    assert store.read_at("acme/rec-1/b.webm", sealed, 10) == b"" and store.read_at("acme/rec-1/b.webm", 0, 0) == b""
    assert store.read_at("acme/rec-1/b.webm", sealed - 3, 10) == backend.raw("acme/rec-1/b.webm")[-3:]
    with pytest.raises(ValueError, match="invalid object name"):
        store.put("acme/../../etc/x", [b"x"])


def test_two_writers_creating_a_tenants_first_data_key_agree_on_one(backend: Backend) -> None:
    """Two pools seal a new tenant's first objects at once: the data key is created with a conditional write
    (a hard link on a volume, `If-None-Match: *` on S3), so both end up under the one that is stored."""
    failed: list[BaseException] = []

    def seal(tenant: str, i: int, v: TenantVault, start: threading.Barrier) -> None:
        start.wait()
        try:
            v.put(tenant, f"rec-{i}/a.webm", [f"media {i}".encode()])
        except BaseException as e:  # a writer that read a half-written key, or none: the test's failure
            failed.append(e)

    for round_ in range(4):
        tenant = f"t{round_}"
        keys = {tenant: ("k", KEK_A)}
        vaults = [TenantVault(backend.make(), keys) for _ in range(4)]
        start = threading.Barrier(len(vaults))
        threads = [threading.Thread(target=seal, args=(tenant, i, v, start)) for i, v in enumerate(vaults)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failed == []
        fresh = TenantVault(backend.make(), keys)
        assert [fresh.read(tenant, f"rec-{i}/a.webm") for i in range(4)] == [f"media {i}".encode() for i in range(4)]


# -- S3 only: the hostile side ------------------------------------------------------------------------------------

def _credentials(tmp: Path, access: str, secret: str) -> Path:
    d = tmp / f"creds-{access}-{len(secret)}"
    d.mkdir()
    (d / ACCESS_KEY_FILE).write_text(access)
    (d / SECRET_FILE).write_text(secret)
    return d


def test_wrong_credentials_are_refused_clearly_and_nothing_leaks(s3_server: StartS3, tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    server = s3_server(BUCKET)
    good = TenantVault(S3Store(server.location(BUCKET)), KEYS)
    good.put("acme", "rec-1/a.webm", [b"sealed before"])
    wrong_secret = "W" + server.secret[1:]
    caplog.set_level(logging.DEBUG)  # botocore's own debug logging too: the secret must not be in it
    for access, secret, code in ((server.access_key, wrong_secret, "SignatureDoesNotMatch"),
                                 ("SOMEONEELSE", server.secret, "InvalidAccessKeyId")):
        store = S3Store(server.location(BUCKET, _credentials(tmp_path, access, secret)))
        v = TenantVault(store, KEYS)
        # (a HEAD's refusal carries no body, so no code: delete starts with one)
        attempts: list[tuple[Callable[[], object], bool]] = [
            (functools.partial(v.put, "acme", "rec-2/a.webm", [b"PLAINTEXT-MEETING-MINUTES"]), True),
            (functools.partial(v.read, "acme", "rec-1/a.webm"), True),
            (functools.partial(store.list, "acme/rec-1"), True),
            (functools.partial(store.read_at, "acme/rec-1/a.webm", 0, 9), True),
            (functools.partial(store.delete, "acme/rec-1/a.webm"), False)]
        for attempt, named in attempts:
            with pytest.raises(StoreUnavailable) as e:
                attempt()
            msg = str(e.value)
            assert "HTTP 403" in msg and "refused this deployment's credentials" in msg and BUCKET in msg, msg
            assert code in msg or not named, msg
            assert server.secret not in msg and wrong_secret not in msg
    assert server.objects(BUCKET) == ["acme/dek.json", "acme/rec-1/a.webm"]  # nothing written, nothing deleted
    assert good.read("acme", "rec-1/a.webm") == b"sealed before"
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert server.secret not in logged and wrong_secret not in logged
    assert "PLAINTEXT-MEETING-MINUTES" not in logged and "sealed before" not in logged
    assert "PLAINTEXT-MEETING-MINUTES" not in server.proc.output()


def test_an_unsigned_request_is_refused_by_the_server(s3_server: StartS3) -> None:
    """The test server refuses anonymous requests, as a private bucket does: the store's refusals above are the
    signature's, not an open server's."""
    import urllib.error
    import urllib.request

    server = s3_server(BUCKET)
    TenantVault(S3Store(server.location(BUCKET)), KEYS).put("acme", "rec-1/a.webm", [b"x"])
    for url in (f"{server.endpoint}/{BUCKET}/acme/dek.json", f"{server.endpoint}/{BUCKET}?list-type=2"):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url, timeout=5)
        assert e.value.code == 403


def test_an_endpoint_that_is_down_is_a_clear_error(s3_server: StartS3) -> None:
    server = s3_server(BUCKET)
    store = S3Store(server.location(BUCKET))
    server.stop()
    down = f"bucket '{BUCKET}' at {server.endpoint} failed: EndpointConnectionError"
    with pytest.raises(StoreUnavailable, match=down):
        TenantVault(store, KEYS).put("acme", "rec-1/a.webm", [b"x"])
    with pytest.raises(StoreUnavailable, match="EndpointConnectionError"):
        store.size("acme/rec-1/a.webm")


def test_a_missing_bucket_is_a_clear_error(s3_server: StartS3) -> None:
    server = s3_server(BUCKET)
    with pytest.raises(StoreUnavailable, match="NoSuchBucket"):
        TenantVault(S3Store(server.location("rec-nowhere")), KEYS).put("acme", "rec-1/a.webm", [b"x"])


class _Calls:
    """The store's S3 client, noting which S3 operations it was asked for."""

    def __init__(self, client: object) -> None:
        self.client = client
        self.names: list[str] = []

    def __getattr__(self, name: str) -> object:
        self.names.append(name)
        return getattr(self.client, name)


def test_a_long_file_goes_up_in_parts_and_a_failed_upload_leaves_no_object(s3_server: StartS3,
                                                                             caplog: pytest.LogCaptureFixture) -> None:
    """A file longer than a part goes up as a multipart upload; one whose source fails mid-way is aborted and no
    object appears. (s3rver does not implement AbortMultipartUpload — it answers 405 — so its parts stay on its
    disk: the store says so in a warning, as it would for any store that refused the abort.)"""
    server = s3_server(BUCKET)
    store = S3Store(server.location(BUCKET), part_size=MIN_PART)
    calls = store._s3 = _Calls(store._s3)
    v = TenantVault(store, KEYS)
    data = os.urandom(12 << 20)
    v.put("acme", "rec-1/cam.webm", (data[i:i + 65536] for i in range(0, len(data), 65536)))
    assert calls.names.count("upload_part") == 3 and "complete_multipart_upload" in calls.names
    assert v.read("acme", "rec-1/cam.webm") == data

    def dies_after_a_part() -> Iterator[bytes]:  # the recorder's source fails mid-file
        yield os.urandom(2 * MIN_PART)  # a part is up before it fails
        raise OSError("the part file vanished")

    calls.names.clear()
    with pytest.raises(OSError, match="vanished"):
        v.put("acme", "rec-1/mic.webm", dies_after_a_part())
    assert "upload_part" in calls.names and "abort_multipart_upload" in calls.names
    assert server.objects(BUCKET) == ["acme/dek.json", "acme/rec-1/cam.webm"]
    (warned,) = [r.getMessage() for r in caplog.records if r.name == "castellan.recording.s3"]
    assert "abort of the multipart upload" in warned and "lifecycle rule" in warned and server.secret not in warned


def test_a_prefix_keeps_the_store_inside_it(s3_server: StartS3) -> None:
    server = s3_server(BUCKET)
    v = TenantVault(S3Store(server.location(BUCKET, prefix="castellan/recordings/")), KEYS)
    v.put("acme", "rec-1/a.webm", [b"x"])
    assert server.objects(BUCKET) == ["castellan/recordings/acme/dek.json", "castellan/recordings/acme/rec-1/a.webm"]
    assert v.list("acme", "rec-1") == ["rec-1/a.webm"] and v.read("acme", "rec-1/a.webm") == b"x"


def test_the_location_file_is_read_strictly(tmp_path: Path) -> None:
    ok = {"endpoint": "https://s3.eu.example.org", "bucket": "rec-eu-1", "credentials": "/etc/castellan/s3/eu-1"}
    got = parse_region_s3(json.dumps({"eu-1": {**ok, "signing_region": "eu-central-1", "prefix": "rec"}}))
    assert got["eu-1"].endpoint == "https://s3.eu.example.org" and got["eu-1"].prefix == "rec/"
    assert got["eu-1"].signing_region == "eu-central-1"
    assert got["eu-1"].credentials_dir == Path("/etc/castellan/s3/eu-1")
    for bad, why in (
        ({"eu-1": {**ok, "secret_access_key": "hunter2"}}, "credentials are not given in this file"),
        ({"eu-1": {**ok, "access_key_id": "AK"}}, "credentials are not given in this file"),
        ({"eu-1": {**ok, "endpoint": "https://AK:hunter2@s3.example.org"}}, "must not carry credentials"),
        ({"eu-1": {**ok, "endpoint": "ftp://s3.example.org"}}, "http"),
        ({"eu-1": {**ok, "endpoint": "https://s3.example.org/rec-eu-1"}}, "scheme://host"),
        ({"eu-1": {**ok, "bucket": "Not_A_Bucket"}}, "not an S3 bucket name"),
        ({"eu-1": {**ok, "prefix": "../x"}}, "not a key prefix"),
        ({"eu-1": {k: v for k, v in ok.items() if k != "credentials"}}, "'credentials' is required"),
        ({"eu-1": {**ok, "colour": "blue"}}, "unknown field"),
        ({"EU 1": ok}, "not a region id"),
        ({}, "expected an object"),
    ):
        with pytest.raises(S3ConfigError, match=why) as e:
            parse_region_s3(json.dumps(bad))
        assert "hunter2" not in str(e.value)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / ACCESS_KEY_FILE).write_text("AK\n")
    loc = parse_region_s3(json.dumps({"eu-1": {**ok, "credentials": str(creds)}}))["eu-1"]
    with pytest.raises(S3ConfigError, match=f"{SECRET_FILE} cannot be read"):
        loc.credentials()
