"""Where each region's recordings live: one tenant vault (store.py) per region, on the region's volume or in its S3
bucket (s3.py). A recorder pool seals what it records into its own region's store, so whoever reads or deletes a
recording's file (the control plane's export, deletion, retention, GDPR erasure, playback) must go to the store of
the region that file was recorded in — never to another region's store, which would not have it, or would be the
wrong jurisdiction's copy.

Two shapes: `RegionVaults({"eu-1": v1, "us-1": v2})`, exactly the regions configured (any other region has no
store and is refused: `NoStoreForRegion`), or `RegionVaults.every_region(v)`, one volume every region's pool seals
onto (a single-volume deployment, the recorder pool's own volume, the CLI's `--volume`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from .s3config import S3Location
from .store import LocalVolumeStore, ObjectStore, TenantVault

_REGION = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")  # residency.model's region ids


class NoStoreForRegion(Exception):
    def __init__(self, region: str, configured: list[str]) -> None:
        where = ", ".join(configured) or "none"
        super().__init__(f"no recording store (volume or S3 bucket) is configured for region {region!r} "
                         f"(configured: {where})")
        self.region = region


class RegionVaults:
    def __init__(self, by_region: Mapping[str, TenantVault], every: TenantVault | None = None) -> None:
        if every is None and not by_region:
            raise ValueError("at least one region's recording volume is needed")
        self._by_region = dict(by_region)
        self._every = every

    @classmethod
    def every_region(cls, vault: TenantVault) -> RegionVaults:
        return cls({}, every=vault)

    @classmethod
    def on_volumes(cls, volumes: Mapping[str, str | Path], keys: Mapping[str, tuple[str, bytes]]) -> RegionVaults:
        return cls.on_stores(volumes, {}, keys)

    @classmethod
    def on_stores(cls, volumes: Mapping[str, str | Path], buckets: Mapping[str, S3Location],
                  keys: Mapping[str, tuple[str, bytes]]) -> RegionVaults:
        """Each region on its volume or in its S3 bucket (not both); one vault per distinct store (regions sharing
        a volume or a bucket share its vault: one data key per tenant there)."""
        both = sorted(set(volumes) & set(buckets))
        if both:
            raise ValueError(f"region(s) {', '.join(both)} given both a volume and an S3 bucket: choose one")
        shared: dict[object, TenantVault] = {}
        by_region = {}
        for region, path in volumes.items():
            root = Path(path).resolve()
            if root not in shared:
                shared[root] = TenantVault(LocalVolumeStore(root), keys)
            by_region[region] = shared[root]
        for region, location in buckets.items():
            if location.identity not in shared:
                from .s3 import S3Store  # boto3 is imported only where a bucket is configured

                store: ObjectStore = S3Store(location)
                shared[location.identity] = TenantVault(store, keys)
            by_region[region] = shared[location.identity]
        return cls(by_region)

    def of(self, region: str) -> TenantVault:
        """The vault of `region`'s recordings; `NoStoreForRegion` if this deployment configured none for it."""
        if self._every is not None:
            return self._every
        vault = self._by_region.get(region)
        if vault is None:
            raise NoStoreForRegion(region, sorted(self._by_region))
        return vault

    @property
    def regions(self) -> list[str] | None:
        """The configured regions; None when one volume serves every region."""
        return None if self._every is not None else sorted(self._by_region)

    @property
    def keys(self) -> dict[str, tuple[str, bytes]]:
        """The operator's tenant keys (every vault has the same)."""
        vault = self._every or next(iter(self._by_region.values()))
        return vault.keys


def parse_region_volumes(text: str) -> dict[str, Path]:
    """`eu-1=/var/lib/rec,us-1=/mnt/us` (CASTELLAN_RECORDING_REGION_VOLUMES) as region -> path; strict."""
    out: dict[str, Path] = {}
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        region, eq, path = item.partition("=")
        region, path = region.strip(), path.strip()
        if not eq or not path:
            raise ValueError(f"{item!r} is not REGION=PATH")
        if not _REGION.match(region):
            raise ValueError(f"{region!r} is not a region id")
        if region in out:
            raise ValueError(f"region {region} is given two volumes")
        out[region] = Path(path)
    if not out:
        raise ValueError("no REGION=PATH given")
    return out
