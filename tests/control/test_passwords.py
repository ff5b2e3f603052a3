"""Meeting-password hashing (Argon2id at OWASP's parameters; scrypt hashes from before still verify), the choice
rules (length, common-password list), and the bound on concurrent hash computations (memory) and waiting checks."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import unicodedata
from pathlib import Path

from signalling.control.errors import ApiError
from signalling.control.password_policy import MIN_PASSWORD_LEN, common_passwords, password_problem
from signalling.control.passwords import (
    DEFAULT_COST,
    Argon2Cost,
    CheckerBusy,
    PasswordChecker,
    hash_password,
    needs_rehash,
    verify_password,
)
from tests.control.cp_env import FAST_ARGON2, legacy_scrypt_hash, make_env


def test_the_production_cost_is_owasps_argon2id() -> None:
    assert DEFAULT_COST == Argon2Cost(time_cost=2, memory_kib=19 * 1024, parallelism=1)
    stored = hash_password("correct horse battery staple")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password("correct horse battery staple", stored)
    assert not verify_password("correct horse battery stapl", stored)
    assert not needs_rehash(stored)
    assert needs_rehash(hash_password("correct horse battery staple", FAST_ARGON2))
    assert hash_password("correct horse battery staple") != stored  # salted


def test_a_production_scrypt_hash_from_before_still_verifies_and_asks_to_be_rehashed() -> None:
    old = legacy_scrypt_hash("board meeting phrase")  # N=2**14, r=8, p=1: what was stored until now
    assert verify_password("board meeting phrase", old)
    assert not verify_password("board meeting phrasE", old)
    assert needs_rehash(old)


def test_passwords_compare_after_unicode_normalisation() -> None:
    composed = "caf\u00e9 au lait"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert verify_password(decomposed, hash_password(composed, FAST_ARGON2))


def test_malformed_or_hostile_stored_hashes_never_verify() -> None:
    good = hash_password("pass phrase", FAST_ARGON2)
    huge = good.replace("m=64,", "m=4194304,")  # 4 GiB: refused, not computed
    argon2i = good.replace("$argon2id$", "$argon2i$")
    for bad in ("", "scrypt$", "bcrypt$1$2$3$aa$bb", "scrypt$x$8$1$aa$bb", "scrypt$1073741824$8$1$aa$bb",
                "$argon2id$", "$argon2id$v=19$m=64,t=1,p=1$!!$!!", huge, argon2i):
        assert verify_password("pass phrase", bad) is False, bad


def test_the_choice_rules_length_and_the_common_list_case_insensitively() -> None:
    assert MIN_PASSWORD_LEN == 8
    assert len(common_passwords()) >= 4000
    assert "at least 8 characters" in (password_problem("seven77") or "")
    assert password_problem("e" * 129) is not None
    for common in ("password", "PASSWORD1", "Qwertyuiop", "1q2w3e4r5t", "trustno1", "iloveyou"):
        assert "most common" in (password_problem(common) or ""), common
    for fine in ("eight ch", "correct horse battery staple", "k9-Vq2!mZ", "caf\u00e9 au lait"):
        assert password_problem(fine) is None, fine
    # code points after NFC: an 8-letter word in decomposed form is still 8 characters
    assert password_problem(unicodedata.normalize("NFD", "\u00e9t\u00e9s \u00e9t\u00e9")) is None


def test_the_list_file_says_where_it_comes_from_and_its_licence() -> None:
    from signalling.control.password_policy import COMMON_PASSWORDS

    head = COMMON_PASSWORDS.read_text().split("\n\n")[0]
    assert "zxcvbn" in head and "MIT" in head and "public" in head and "domain" in head


def test_concurrent_hash_computations_never_exceed_the_workers() -> None:
    """Each running Argon2 computation holds its memory cost: joins (async) and link creations (sync, any
    thread) together never run more than `workers` at once, however many arrive."""
    cost = Argon2Cost(time_cost=1, memory_kib=4096, parallelism=1)  # a few ms each, so they overlap
    checker = PasswordChecker(cost, workers=2, max_waiting=100)
    stored = hash_password("pass phrase", cost)

    async def storm() -> list[bool]:
        return await asyncio.gather(*[checker.verify("pass phrase" if i % 2 else "wrong phrase", stored)
                                      for i in range(16)])

    hashes: list[str] = []
    threads = [threading.Thread(target=lambda: hashes.append(checker.hash_now("pass phrase"))) for _ in range(6)]
    for t in threads:
        t.start()
    results = asyncio.run(storm())
    for t in threads:
        t.join(60)
    checker.close()
    assert results == [bool(i % 2) for i in range(16)]
    assert len(hashes) == 6 and all(verify_password("pass phrase", h) for h in hashes)
    assert checker.running == 0
    assert checker.peak == 2  # reached, never passed


def test_checks_beyond_the_queue_are_refused_at_once() -> None:
    checker = PasswordChecker(FAST_ARGON2, workers=1, max_waiting=3)
    stored = hash_password("pass phrase", FAST_ARGON2)

    async def flood() -> list[bool | BaseException]:
        return await asyncio.gather(*[checker.verify("pass phrase", stored) for _ in range(10)],
                                    return_exceptions=True)

    results = asyncio.run(flood())
    checker.close()
    assert results[:3] == [True, True, True]
    assert all(isinstance(r, CheckerBusy) for r in results[3:])


def test_a_join_flood_beyond_the_password_queue_gets_a_retryable_503_not_a_pile_up(tmp_path: Path) -> None:
    """Ten correct-password joins at once (ten links, ten addresses) against a queue of 2: two are checked,
    eight are told to retry in a second (503 busy, Retry-After), none counts as a wrong password."""
    env = make_env(tmp_path)
    env.control.passwords.close()
    env.control.passwords = PasswordChecker(FAST_ARGON2, workers=1, max_waiting=2)
    links = [env.link(password=f"meeting phrase {i}")["link"] for i in range(10)]

    async def flood() -> list[object]:
        return await asyncio.gather(*[env.control.join(link=link, name="Ada", client=f"198.51.100.{i}",
                                                       password=f"meeting phrase {i}")
                                      for i, link in enumerate(links)], return_exceptions=True)

    results = asyncio.run(flood())
    joined = [r for r in results if isinstance(r, dict) and r["status"] == "joined"]
    busy = [r for r in results if isinstance(r, ApiError)]
    assert len(joined) == 2, results
    assert len(busy) == 8 and all((e.status, e.code) == (503, "busy") for e in busy)
    assert all(e.headers.get("Retry-After") == "1" for e in busy)
    assert env.control.limiter.lockouts(None) == []
    # the queue drained: the refused ones get in on their retry
    again = env.join(links[9], password="meeting phrase 9")
    assert again.status_code == 200, again.text
    env.control.close()


def test_the_test_profile_is_only_a_config_value(tmp_path: Path) -> None:
    """Production code has no test switch: the cheap cost reaches the hasher only through ControlConfig."""
    from signalling.control.config import ControlConfig

    assert ControlConfig().password_cost == DEFAULT_COST
    env = make_env(tmp_path)
    assert env.control.passwords.cost == FAST_ARGON2
    env.control.close()


_RSS_PROBE = """
import asyncio
from signalling.control.passwords import PasswordChecker, hash_password

def rss_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])

stored = hash_password("correct horse battery staple")

async def main():
    checker = PasswordChecker(workers=2)
    await checker.verify("warm-up", stored)
    before = rss_kib()
    for _ in range(3):  # bursts of wrong guesses keep both workers busy, as a drained node's re-joins do
        await asyncio.gather(*(checker.verify("wrong guess", stored) for _ in range(8)))
    print(rss_kib() - before)

asyncio.run(main())
"""


def test_a_burst_of_checks_gives_its_argon2_memory_back() -> None:
    """Each check allocates a 19 MiB matrix; after a burst the control plane must not keep them (it kept one per
    worker for good, the soak's control-plane step at the drain). In a fresh process, so nothing else this test
    run allocated blurs the figure."""
    out = subprocess.run([sys.executable, "-c", _RSS_PROBE], capture_output=True, text=True, timeout=120,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    grown_kib = int(out.stdout.strip())
    assert grown_kib < 4 * 1024, f"RSS grew {grown_kib} KiB after the bursts (one matrix is {19 * 1024} KiB)"
