"""Attacks on a link's password, run against a control plane whose limiter is in memory (test_bruteforce.py)
or shared through a real Redis (test_bruteforce_redis.py): both must hold the same way.

The control plane sits behind an Ingress (the trusted proxy 10.0.0.2, one hop): every request reaches it from
10.0.0.2 with the X-Forwarded-For header the client wrote, plus the address the Ingress appended on the right.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from prometheus_client import REGISTRY
from starlette.testclient import TestClient

from signalling.control.devices import COOKIE
from tests.control.cp_env import Clock, Env, Slowdowns

INGRESS = "10.0.0.2"
NAT = "203.0.113.66"  # a hospital's shared address: a participant and the attacker behind it
ATTACKER_2 = "198.51.100.200"
ELSEWHERE = "192.0.2.44"


def password_checks() -> float:
    return REGISTRY.get_sample_value("castellan_password_failures_total") or 0.0


def links_guessed(tenant: str = "acme") -> float:
    return REGISTRY.get_sample_value("castellan_link_guessing", {"tenant": tenant}) or 0.0


def behind_ingress(*apps: Any) -> Slowdowns:
    """Puts control planes behind the Ingress (as `--trust-forwarded-for --trusted-proxies 10.0.0.0/8`)."""
    slow = Slowdowns()
    for app in apps:
        config = app.state.control.config
        config.trust_forwarded_for, config.trusted_proxies, config.forwarded_hops = True, ("10.0.0.0/8",), 1
        app.state.control.checks.sleep = slow
    return slow


def browser(env: Env, app: Any = None) -> TestClient:
    """A browser reaching the control plane through the Ingress over https (it keeps its cookies)."""
    return TestClient(app or env.client.app, client=(INGRESS, 44000), base_url="https://meet.example")


def join(c: TestClient, link: str, password: str, address: str, spoofed: str | None = None) -> Any:
    fwd = f"{spoofed}, {address}" if spoofed else address  # the Ingress appends what it saw on the right
    return c.post("/v1/join", json={"link": link, "name": "x", "password": password},
                  headers={"X-Forwarded-For": fwd})


def guess_1000_times(c: TestClient, link: str, address: str, clock: Clock, spoof: bool = False) -> Counter[int]:
    """A thousand wrong guesses, one a second, from one address (spoofing X-Forwarded-For each time)."""
    codes: Counter[int] = Counter()
    for i in range(1000):
        spoofed = f"192.0.2.{i % 250 + 1}, 10.9.{i // 250}.{i % 250}" if spoof else None
        codes[join(c, link, f"guess-{i}", address, spoofed).status_code] += 1
        clock.advance(1)
    return codes


def attacker_cannot_lock_a_link(env: Env, clock: Clock, other: TestClient | None = None) -> None:
    """Issue 18: 1,000 wrong guesses from one address, then 1,000 with spoofed X-Forwarded-For values from
    another: each address gets its own 15 checks (5, a minute's wait, 5, two minutes', 5, then locked for an
    hour); the link is only slowed (listed, alerted on), and people with the password still get in — from
    elsewhere (slowed), and from the attacker's own NAT address with the browser that entered before (not
    slowed). Without that browser's cookie, the NAT address is the attacker's: it waits."""
    second_replica = other.app if other is not None else None
    slow = behind_ingress(env.client.app, *([second_replica] if second_replica is not None else []))
    link = env.link(password="right horse battery")["link"]
    alice = browser(env)
    assert join(alice, link, "right horse battery", NAT).status_code == 200  # earlier, from the hospital
    assert alice.cookies.get(COOKIE)
    before = password_checks()

    attacker = browser(env)
    codes = guess_1000_times(attacker, link, NAT, clock)
    assert codes[401] == 15 and codes[429] == 985, codes
    assert COOKIE not in attacker.cookies  # a cookie is issued for a correct password only

    attacker_2 = browser(env, second_replica)
    codes = guess_1000_times(attacker_2, link, ATTACKER_2, clock, spoof=True)
    assert codes[401] == 15 and codes[429] == 985, codes
    assert password_checks() - before == 30  # the spoofed addresses bought nothing
    assert slow.delays  # the link is under guessing: unknown guessers were slowed

    locks = {(lo["scope"], lo["key"]): lo
             for lo in env.client.get("/v1/tenants/acme/lockouts", headers=env.admin()).json()["lockouts"]}
    assert locks[("link", link)]["effect"] == "slowdown" and locks[("link", link)]["delay"] > 0
    assert locks[("client", ATTACKER_2)]["effect"] == "block" and locks[("client", ATTACKER_2)]["locked"]
    assert locks[("known", f"{link} {NAT}")]["locked"]
    assert not any(key.startswith("192.0.2.") or key.startswith("10.9.") for _, key in locks)
    assert links_guessed() >= 1

    env.residency.node_registered(env.nodes["node-eu-1"])  # the media node's heartbeat (real time went by)
    slow.delays.clear()
    bob = browser(env, second_replica)
    r = join(bob, link, "right horse battery", ELSEWHERE)
    assert r.status_code == 200, r.text  # never a lockout for a correct password
    assert slow.delays  # ... but a slowed one: Bob was unknown on this link
    assert bob.cookies.get(COOKIE)

    slow.delays.clear()
    r = join(alice, link, "right horse battery", NAT)
    assert r.status_code == 200, r.text  # her browser entered before: the NAT's lock is not hers
    assert not slow.delays

    r = join(browser(env), link, "right horse battery", NAT)  # the same address without her cookie: the attacker's lock
    assert (r.status_code, r.json()["error"]) == (429, "locked")
    assert "your address" in r.json()["message"]
