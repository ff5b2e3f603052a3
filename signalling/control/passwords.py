"""Meeting passwords: scrypt with a per-link salt, compared in constant time, verified off the event loop.

Cost: N=2**14, r=8, p=1 (16 MiB, about 65 ms on this 2-core test VM). These are the scrypt paper's parameters for
interactive logins. Online guessing is already capped by the rate limiter (5 failures a minute per link and per
client address, then back-off and a lock), so the hash only has to make an offline attack on a stolen database
expensive, while a join storm of hundreds of participants must stay responsive: at 16 MiB and a bounded pool of
workers, memory stays bounded too. The parameters are stored with every hash (`scrypt$N$r$p$salt$hash`), so
they can be raised later; `needs_rehash` tells when a stored hash is below the current cost.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass


@dataclass(frozen=True)
class ScryptCost:
    n: int = 2**14
    r: int = 8
    p: int = 1

    @property
    def maxmem(self) -> int:
        return 128 * self.r * self.n * self.p + 4 * 1024 * 1024


DEFAULT_COST = ScryptCost()
MAX_PASSWORD_LEN = 128


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _normalise(password: str) -> bytes:
    return unicodedata.normalize("NFC", password).encode()


def hash_password(password: str, cost: ScryptCost = DEFAULT_COST) -> str:
    salt = secrets.token_bytes(16)
    dk = hashlib.scrypt(_normalise(password), salt=salt, n=cost.n, r=cost.r, p=cost.p, maxmem=cost.maxmem, dklen=32)
    return f"scrypt${cost.n}${cost.r}${cost.p}${_b64(salt)}${_b64(dk)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        cost = ScryptCost(int(n), int(r), int(p))
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    dk = hashlib.scrypt(
        _normalise(password), salt=_unb64(salt), n=cost.n, r=cost.r, p=cost.p, maxmem=cost.maxmem, dklen=32
    )
    return hmac.compare_digest(dk, _unb64(expected))


def needs_rehash(stored: str, cost: ScryptCost = DEFAULT_COST) -> bool:
    parts = stored.split("$")
    return len(parts) != 6 or (int(parts[1]), int(parts[2]), int(parts[3])) < (cost.n, cost.r, cost.p)


def generate_password(words: int = 4) -> str:
    """A readable random meeting password (about 50 bits), used when the admin gives none."""
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(words))


class PasswordChecker:
    """Runs scrypt in a bounded thread pool (hashlib releases the GIL), so checks neither block the loop nor
    use unbounded memory under a storm."""

    def __init__(self, workers: int | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers or max(2, os.cpu_count() or 2), thread_name_prefix="scrypt")

    async def verify(self, password: str, stored: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(self._pool, verify_password, password, stored)

    async def hash(self, password: str, cost: ScryptCost = DEFAULT_COST) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._pool, hash_password, password, cost)

    def close(self) -> None:
        self._pool.shutdown(wait=False)
