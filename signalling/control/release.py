"""The client release: which files make up the browser client, and their SHA-256 hashes.

A control plane serves the JavaScript that holds the meeting keys, so it could serve a different client. The
release hash lets anyone compare what a deployment serves with what a release published (docs/e2ee.md, "Threat
model"): it is the SHA-256 of the `sha256sum` listing of the client's files,

    cd signalling/client && sha256sum $(find . -type f \\( -name '*.js' -o -name '*.html' ... \\) | sort) | sha256sum

i.e. one line `<hex>  <name>` per file, names relative to the client directory with `/`, sorted by name
(bytewise), each line ending in a newline. `castellan client-hash` prints it from a checkout or from a running
deployment's files; the page footer shows the value its browser computed over the files it fetched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# what the browser loads: modules, workers, the page, its style, a vendored bundle (js or wasm). Everything else
# in the directory (README.md) is not served.
SERVED_SUFFIXES = (".js", ".mjs", ".html", ".css", ".wasm")


@dataclass(frozen=True)
class ClientRelease:
    version: str
    sha256: str
    files: Mapping[str, str]  # name (relative, "/") -> sha256 hex

    def json(self) -> dict[str, object]:
        return {"version": self.version, "sha256": self.sha256, "files": dict(self.files)}


def served_names(root: Path) -> list[str]:
    """The client's file names under `root`, sorted bytewise; hidden files and directories are left out."""
    names = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if p.is_file() and p.suffix in SERVED_SUFFIXES and not any(part.startswith(".") for part in rel.parts):
            names.append(rel.as_posix())
    return sorted(names, key=lambda n: n.encode())


def listing_hash(files: Mapping[str, str]) -> str:
    """SHA-256 of the `sha256sum` listing of `files` (name -> hex), sorted by name."""
    listing = "".join(f"{files[n]}  {n}\n" for n in sorted(files, key=lambda n: n.encode()))
    return hashlib.sha256(listing.encode()).hexdigest()


def release_of(bodies: Mapping[str, bytes], version: str) -> ClientRelease:
    files = {n: hashlib.sha256(b).hexdigest() for n, b in bodies.items()}
    return ClientRelease(version=version, sha256=listing_hash(files), files=files)


def read_client(root: Path) -> dict[str, bytes]:
    return {n: (root / n).read_bytes() for n in served_names(root)}


def client_release(root: Path, version: str) -> ClientRelease:
    return release_of(read_client(root), version)


def product_version() -> str:
    """The installed castellan's version (pyproject.toml), "unknown" outside an installation."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("castellan")
    except PackageNotFoundError:
        return "unknown"
