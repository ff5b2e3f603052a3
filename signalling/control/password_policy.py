"""Which meeting passwords an organiser may choose: at least MIN_PASSWORD_LEN characters and not one of the most
common passwords (a bundled list, compared case-insensitively). No composition rules (NIST SP 800-63B).

Why 8: NIST SP 800-63B asks at least 8 characters of a password that is not the only factor; a meeting password
never is: it guards a link whose id is itself a 256-bit unguessable signed secret, online guessing is capped by
the failure limiter (5 a minute per link and per address, then back-off and a lock), and the stored hash is
Argon2id. 15 (800-63B-4's figure for a password used alone) would push organisers to the generated password
(19 characters, ~80 bits), which is the default anyway. Length counts Unicode code points after NFC.
"""

from __future__ import annotations

import functools
import unicodedata
from pathlib import Path

MIN_PASSWORD_LEN = 8
MAX_PASSWORD_LEN = 128
COMMON_PASSWORDS = Path(__file__).resolve().parent / "common-passwords.txt"


@functools.cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line.casefold() for line in lines if line and not line.startswith("#"))


def password_problem(password: str) -> str | None:
    """Why `password` may not be a meeting password, or None when it may."""
    n = len(unicodedata.normalize("NFC", password))
    if n < MIN_PASSWORD_LEN:
        return (f"a meeting password needs at least {MIN_PASSWORD_LEN} characters (this one has {n}); "
                "or leave it out to have one generated")
    if n > MAX_PASSWORD_LEN:
        return f"a meeting password has at most {MAX_PASSWORD_LEN} characters (this one has {n})"
    if unicodedata.normalize("NFC", password).casefold() in common_passwords():
        return ("this is one of the most common passwords, the first an attacker tries; choose another, "
                "or leave it out to have one generated")
    return None
