"""Meeting passwords: Argon2id (PHC string `$argon2id$v=19$m=...,t=...,p=...$salt$hash`), verified off the event
loop, at most `workers` computations at a time, with a bounded queue in front.

Cost: OWASP's Password Storage Cheat Sheet, first Argon2id line: m = 19 MiB, t = 2, p = 1 (about 35 ms on this
2-core test VM). Online guessing is capped by the failure limiter (5 failures a minute per link and per client
address, then back-off and a lock), so the hash makes an offline attack on a stolen database expensive, while a
join storm of hundreds of participants stays responsive. Memory: each running check holds `m`, so at most
`workers` x 19 MiB; a flood beyond the queue is refused at once (`CheckerBusy`, a 503 with Retry-After) instead of
piling up.

Hashes made before Argon2 (`scrypt$N$r$p$salt$hash`, N=2**14) still verify; `needs_rehash` says so for them and
for an Argon2 hash made at other parameters, and the join rehashes on the next correct password.
"""

from __future__ import annotations

import asyncio
import base64
import ctypes
import ctypes.util
import hashlib
import hmac
import os
import secrets
import threading
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

T = TypeVar("T")


@dataclass(frozen=True)
class Argon2Cost:
    time_cost: int = 2
    memory_kib: int = 19 * 1024
    parallelism: int = 1

    def hasher(self) -> argon2.PasswordHasher:
        return argon2.PasswordHasher(time_cost=self.time_cost, memory_cost=self.memory_kib,
                                     parallelism=self.parallelism, hash_len=32, salt_len=16, type=argon2.Type.ID)


DEFAULT_COST = Argon2Cost()
# a stored hash asking for more than this is refused rather than computed (a corrupted or planted row must not
# make one check allocate gigabytes): 16x the default
MAX_STORED_MEMORY_KIB = 16 * DEFAULT_COST.memory_kib
MAX_STORED_SCRYPT_N = 2**17


def _normalise(password: str) -> bytes:
    return unicodedata.normalize("NFC", password).encode()


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def hash_password(password: str, cost: Argon2Cost = DEFAULT_COST) -> str:
    return cost.hasher().hash(_normalise(password))


def _verify_scrypt(password: str, stored: str) -> bool:
    """The format before Argon2: `scrypt$N$r$p$salt$hash` (urlsafe base64 without padding)."""
    try:
        _, n_, r_, p_, salt, expected = stored.split("$")
        n, r, p = int(n_), int(r_), int(p_)
        if not (1 < n <= MAX_STORED_SCRYPT_N and 0 < r <= 32 and 0 < p <= 4):
            return False
        dk = hashlib.scrypt(_normalise(password), salt=_unb64(salt), n=n, r=r, p=p,
                            maxmem=128 * r * n * p + 4 * 1024 * 1024, dklen=32)
        return hmac.compare_digest(dk, _unb64(expected))
    except (ValueError, TypeError):
        return False


def verify_password(password: str, stored: str) -> bool:
    if stored.startswith("scrypt$"):
        return _verify_scrypt(password, stored)
    try:
        params = argon2.extract_parameters(stored)
        if params.type is not argon2.Type.ID or params.memory_cost > MAX_STORED_MEMORY_KIB:
            return False
        return bool(argon2.PasswordHasher().verify(stored, _normalise(password)))
    except (VerificationError, InvalidHashError, ValueError):
        return False


def needs_rehash(stored: str, cost: Argon2Cost = DEFAULT_COST) -> bool:
    """True for a pre-Argon2 hash and for an Argon2 hash made at other parameters than `cost`."""
    if not stored.startswith("$argon2id$"):
        return True
    try:
        return bool(cost.hasher().check_needs_rehash(stored))
    except (InvalidHashError, ValueError):
        return True


def generate_password(words: int = 4) -> str:
    """A readable random meeting password (about 80 bits), used when the admin gives none."""
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(words))


M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
MMAP_THRESHOLD = 1 << 20


def hash_memory_returned_at_once() -> bool:
    """Makes glibc serve every allocation of 1 MiB or more (each check's Argon2 matrix) with its own mmap, given
    back to the kernel when freed. By default glibc raises that threshold after the first such free, so later
    matrices come from the worker threads' heaps and stay resident: a burst of checks (a drained node's
    participants all joining again) left the control plane ~19 MiB larger per worker for good (the soak's
    control-plane step). Setting the threshold also turns that adjustment off. False without glibc."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def default_workers() -> int:
    return max(2, min(os.cpu_count() or 2, 8))


class CheckerBusy(Exception):
    """More password checks are waiting than the queue takes: refuse now, the client retries."""


class PasswordChecker:
    """Every hash computation — async (joins) or not (link creation) — holds one of `workers` slots, so memory
    stays at most `workers` x the Argon2 memory cost whatever the load. Async callers wait in a queue of at most
    `max_waiting` (running ones included); beyond it `CheckerBusy`."""

    def __init__(self, cost: Argon2Cost = DEFAULT_COST, workers: int = 0, max_waiting: int = 256) -> None:
        self.cost = cost
        self.memory_returned = hash_memory_returned_at_once()
        self.workers = workers or default_workers()
        self.max_waiting = max_waiting
        self._slots = threading.BoundedSemaphore(self.workers)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="password")
        self._count = threading.Lock()
        self._waiting = 0  # async checks queued or running (touched on the event loop only)
        self.running = 0  # computations holding a slot now
        self.peak = 0  # the most that ever held a slot at once

    def _bounded(self, fn: Callable[..., T], *args: object) -> T:
        with self._slots:
            with self._count:
                self.running += 1
                self.peak = max(self.peak, self.running)
            try:
                return fn(*args)
            finally:
                with self._count:
                    self.running -= 1

    def hash_now(self, password: str) -> str:
        """Hash in the calling thread (waits for a slot)."""
        return self._bounded(self._hash, password)

    async def _queued(self, fn: Callable[..., T], *args: str) -> T:
        if self._waiting >= self.max_waiting:
            raise CheckerBusy
        self._waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, self._bounded, fn, *args)
        finally:
            self._waiting -= 1

    async def verify(self, password: str, stored: str) -> bool:
        return await self._queued(verify_password, password, stored)

    async def hash(self, password: str) -> str:
        return await self._queued(self._hash, password)

    def _hash(self, password: str) -> str:
        return hash_password(password, self.cost)

    def needs_rehash(self, stored: str) -> bool:
        return needs_rehash(stored, self.cost)

    def close(self) -> None:
        self._pool.shutdown(wait=False)
