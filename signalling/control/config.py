"""Control-plane settings (flags and `CASTELLAN_*` environment variables map onto these)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from recording.s3config import S3Location
from residency.logkey import Pkcs11Config

from .clientaddr import PRIVATE_NETWORKS, ForwardedRule, parse_networks
from .passwords import DEFAULT_COST, Argon2Cost
from .ratelimit import LimitPolicy


@dataclass
class ControlConfig:
    db: Path = Path("castellan.db")
    # PostgreSQL for several replicas (`postgresql://user:pass@host/db`); unset: the SQLite file `db`
    database_url: str | None = None
    schema_upgrade: bool = True  # bring the schema to this release's revision at start (under a lock)
    public_url: str = "http://127.0.0.1:8000"
    signing_key_dir: Path | None = None  # default: <db dir>/keys
    redis_url: str | None = None
    token_ttl: float = 60.0
    key_grace: float = 600.0  # a retired signing key stays published this long
    max_body: int = 16 * 1024
    # X-Forwarded-For (clientaddr.py): believed only from a peer in `trusted_proxies` (default: private networks),
    # read from the right, `forwarded_hops` proxies deep (0: walk left while the entry is a trusted proxy)
    trust_forwarded_for: bool = False
    trusted_proxies: tuple[str, ...] = ()
    forwarded_hops: int = 1
    # the header the operator's regional ingresses set to their region id (regionhint.py), e.g. X-Castellan-Region;
    # believed only from the trusted proxies above, so it needs trust_forwarded_for. None: no header is read
    region_header: str | None = None
    limits: LimitPolicy = field(default_factory=LimitPolicy)
    join_rate: float = 10.0  # join requests per second per client address (token bucket); 0 disables
    join_burst: float = 120.0
    password_cost: Argon2Cost = DEFAULT_COST  # production: OWASP's; tests pass a cheap one (tests/control/cp_env.py)
    password_workers: int = 0  # password hashes computed at once (each holds the Argon2 memory); 0: CPUs, 2..8
    password_queue: int = 256  # password checks waiting or running; beyond it a join is told to retry (503)
    lobby_poll_max: float = 25.0
    # operator configuration applied at start (CASTELLAN_REGIONS, CASTELLAN_NODE_KEYS, CASTELLAN_NODE_KEY_DIR):
    # regions as residency.model.Region dicts, node public keys as (region, key)
    regions: list[dict[str, str]] | None = None
    node_keys: list[tuple[str, str]] = field(default_factory=list)
    # the key signing the tenants' transparency-log heads, outside the database (residency/logkey.py): a PEM file
    # (the chart's transparencyLog.keySecret) or a PKCS#11 token; neither: the audit key
    log_key: Path | None = None
    log_key_pkcs11: Pkcs11Config | None = None
    ca_bundle: str | None = None  # CAs for the nodes' https health checks (default: the system's)
    # the client pages' connect-src (csp.py): these ws(s) origins, else every registered node's WebSocket URL
    node_origins: tuple[str, ...] = ()
    # the browser client served (signalling/client), and whether its pages are a development build (pages.py:
    # ?ws/?token/?e2ee honoured). Only `castellan dev --dev-client` and test harnesses set it; no production flag.
    client_dir: Path | None = None
    dev_client: bool = False
    # compliance recordings (recording/, signalling/control/recordings.py): the recording volume(s) and the
    # operator's tenant keys file, both or neither (neither: the recording endpoints answer
    # `recording_not_configured`); exports are signed by `recording_signing_key`, else by the audit key.
    # `recording_volume`: one volume every region's recorder pool seals onto; `recording_region_volumes`: one per
    # region (each region's recordings read and deleted on its own; another region's refused). Not both.
    recording_volume: Path | None = None
    recording_region_volumes: dict[str, Path] = field(default_factory=dict)
    # or a region's S3 bucket (`--recording-region-s3 FILE`, recording/s3config.py); a region has one or the other
    recording_region_s3: dict[str, S3Location] = field(default_factory=dict)
    recording_tenant_keys: Path | None = None
    recording_signing_key: Path | None = None
    # recorder pool keys the deployment made (the chart's generated Secrets, CASTELLAN_RECORDER_POOL_KEY_DIR), as
    # (region, crk_ key): enrolled at start for their region (recorderpools.enroll_configured_key)
    pool_keys: list[tuple[str, str]] = field(default_factory=list)

    def forwarded_rule(self) -> ForwardedRule:
        """How the client address is found (no trusted proxy at all while `trust_forwarded_for` is off)."""
        if not self.trust_forwarded_for:
            return ForwardedRule()
        return _rule(tuple(self.trusted_proxies) or PRIVATE_NETWORKS, self.forwarded_hops)

    def database(self) -> str | Path:
        """What `residency.db.Database` opens: the PostgreSQL URL when set, else the SQLite file."""
        return self.database_url or self.db

    def key_dir(self) -> Path:
        return self.signing_key_dir or Path(self.db).resolve().parent / "keys"


@functools.lru_cache(maxsize=16)
def _rule(proxies: tuple[str, ...], hops: int) -> ForwardedRule:
    return ForwardedRule(parse_networks(proxies), hops)
