"""Where sealed recording objects live. `ObjectStore` is the interface: the region's local volume
(`LocalVolumeStore`) or a bucket of an S3-compatible object store (s3.py `S3Store`: `size` a HEAD, `read_at` a
GET with a Range); `TenantVault` puts the envelope (envelope.py) in front of it so nothing reaches the store in the clear and each tenant's objects open only with its own key.

Object names are checked here, at the edge: a name from an API call or a package can never climb out of the
store's root or into another tenant's space.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Protocol

from .envelope import (
    CHUNK,
    EnvelopeError,
    WrappedKey,
    new_data_key,
    open_range,
    open_stream,
    seal_stream,
    unwrap,
)

_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
KEY_OBJECT = "dek.json"  # the only one-part name under a tenant: vault objects always have two or more


def check_name(name: str) -> str:
    parts = name.split("/")
    if not name or len(parts) > 6 or not all(_PART.match(p) and ".." not in p for p in parts):
        raise ValueError(f"invalid object name {name!r}")
    return name


class StoreUnavailable(OSError):
    """The store refused or could not be reached (wrong credentials, an endpoint down): says which store and why,
    never a credential. An OSError, as a volume's own failures are."""


class ObjectStore(Protocol):
    def put(self, key: str, chunks: Iterable[bytes]) -> int: ...
    def put_new(self, key: str, data: bytes) -> bool: ...
    def get(self, key: str) -> Iterator[bytes]: ...
    def size(self, key: str) -> int: ...
    def read_at(self, key: str, offset: int, length: int) -> bytes: ...
    def delete(self, key: str) -> bool: ...
    def list(self, prefix: str) -> list[str]: ...


class LocalVolumeStore:
    """Objects as files under `root` (the region's volume); writes are atomic (temp file + rename)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _path(self, key: str) -> Path:
        return self.root / check_name(key)

    def _written(self, path: Path, chunks: Iterable[bytes]) -> tuple[Path, int]:
        """A complete temporary copy beside `path` (a name of its own: pods on a shared volume may share a pid)."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        size = 0
        with open(tmp, "wb") as f:
            for c in chunks:
                f.write(c)
                size += len(c)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        return tmp, size

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        path = self._path(key)
        tmp, size = self._written(path, chunks)
        os.replace(tmp, path)
        return size

    def put_new(self, key: str, data: bytes) -> bool:
        """Create `key` only if it does not exist (atomically: a hard link fails on an existing name); False if
        another writer got there first."""
        path = self._path(key)
        tmp, _ = self._written(path, [data])
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        finally:
            tmp.unlink()
        return True

    def get(self, key: str) -> Iterator[bytes]:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        with open(path, "rb") as f:
            while True:
                b = f.read(CHUNK)
                if not b:
                    return
                yield b

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        return path.stat().st_size

    def read_at(self, key: str, offset: int, length: int) -> bytes:
        """Up to `length` bytes from `offset` (fewer at the end of the object)."""
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        fd = os.open(path, os.O_RDONLY)
        try:
            return os.pread(fd, length, offset)
        finally:
            os.close(fd)

    def delete(self, key: str) -> bool:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/"))
        if not base.is_dir():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file() and not p.name.startswith("."))


def _read_file(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while True:
            b = f.read(CHUNK)
            if not b:
                return
            yield b


class TenantVault:
    """Sealed objects per tenant. `keys` maps tenant id -> (kek id, tenant key) as the operator configured them;
    a tenant without a configured key cannot store anything (fail closed)."""

    def __init__(self, store: ObjectStore, keys: Mapping[str, tuple[str, bytes]]) -> None:
        self.store = store
        self.keys = dict(keys)
        self._deks: dict[str, bytes] = {}

    def _dek(self, tenant: str) -> bytes:
        if tenant in self._deks:
            return self._deks[tenant]
        if tenant not in self.keys:
            raise EnvelopeError(f"no tenant key configured for {tenant}: recordings cannot be stored")
        kek_id, kek = self.keys[tenant]
        key_name = f"{check_name(tenant)}/{KEY_OBJECT}"
        try:
            wrapped = WrappedKey.from_json(b"".join(self.store.get(key_name)).decode())
        except FileNotFoundError:
            dek, wrapped = new_data_key(tenant, kek, kek_id)
            # create-if-absent: two writers sealing a tenant's first objects on one volume at once must agree on
            # one data key (a plain replace would let the last one win and orphan what the other sealed)
            if not self.store.put_new(key_name, wrapped.to_json().encode()):
                self._deks.pop(tenant, None)
                return self._dek(tenant)
        else:
            if wrapped.tenant != tenant:
                raise EnvelopeError(f"the data key stored for {tenant} belongs to {wrapped.tenant}")
            dek = unwrap(wrapped, kek)
        self._deks[tenant] = dek
        return dek

    def _key(self, tenant: str, name: str) -> str:
        if "/" not in check_name(name):  # <recording>/<file>: never the tenant's wrapped key
            raise ValueError(f"invalid object name {name!r}")
        return f"{check_name(tenant)}/{name}"

    def put(self, tenant: str, name: str, chunks: Iterable[bytes]) -> int:
        key = self._key(tenant, name)
        return self.store.put(key, seal_stream(self._dek(tenant), key, chunks))

    def put_file(self, tenant: str, name: str, path: Path) -> int:
        return self.put(tenant, name, _read_file(path))

    def get(self, tenant: str, name: str) -> Iterator[bytes]:
        key = self._key(tenant, name)
        return open_stream(self._dek(tenant), key, self.store.get(key))

    def get_range(self, tenant: str, name: str, plain_size: int, first: int, last: int) -> Iterator[bytes]:
        """Plaintext bytes first..last (inclusive) of an object the archive recorded as `plain_size` bytes, opening
        only the chunks that hold them (envelope.open_range): a seek deep into a long file costs what it reads.
        Lazy: a missing object or key fails at the first piece, as `get` does."""
        key = self._key(tenant, name)
        yield from open_range(self._dek(tenant), key, lambda offset, length: self.store.read_at(key, offset, length),
                              self.store.size(key), plain_size, first, last)

    def read(self, tenant: str, name: str) -> bytes:
        return b"".join(self.get(tenant, name))

    def delete(self, tenant: str, name: str) -> bool:
        return self.store.delete(self._key(tenant, name))

    def list(self, tenant: str, prefix: str) -> list[str]:
        base = f"{check_name(tenant)}/"
        return [k[len(base):] for k in self.store.list(base + check_name(prefix))]
