"""Control-plane settings (flags and `CASTELLAN_*` environment variables map onto these)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .passwords import DEFAULT_COST, Argon2Cost
from .ratelimit import LimitPolicy


@dataclass
class ControlConfig:
    db: Path = Path("castellan.db")
    public_url: str = "http://127.0.0.1:8000"
    signing_key_dir: Path | None = None  # default: <db dir>/keys
    redis_url: str | None = None
    token_ttl: float = 60.0
    key_grace: float = 600.0  # a retired signing key stays published this long
    max_body: int = 16 * 1024
    trust_forwarded_for: bool = False  # use X-Forwarded-For's first address (only behind a trusted proxy)
    limits: LimitPolicy = field(default_factory=LimitPolicy)
    join_rate: float = 10.0  # join requests per second per client address (token bucket); 0 disables
    join_burst: float = 120.0
    password_cost: Argon2Cost = DEFAULT_COST  # production: OWASP's; tests pass a cheap one (tests/control/cp_env.py)
    password_workers: int = 0  # password hashes computed at once (each holds the Argon2 memory); 0: CPUs, 2..8
    password_queue: int = 256  # password checks waiting or running; beyond it a join is told to retry (503)
    lobby_poll_max: float = 25.0

    def key_dir(self) -> Path:
        return self.signing_key_dir or Path(self.db).resolve().parent / "keys"
