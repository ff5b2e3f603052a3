"""Brute force: five wrong passwords a minute per guesser (address, device), then a growing back-off (429 +
Retry-After) that even the right password from that guesser must sit out, then a lock the tenant admin can see
and clear. The link itself is never locked: guessing from everyone together only slows unknown guessers on it
(listed, and alerted on by `castellan_link_guessing`). Counted as metrics, audited."""

from __future__ import annotations

from prometheus_client import REGISTRY
from starlette.testclient import TestClient

from signalling.control.devices import COOKIE
from tests.control import attacks
from tests.control.cp_env import Clock, Env, Slowdowns

BACKENDS = ["sqlite", "postgresql"]  # the same stories on the embedded and the production store


def failures_metric() -> float:
    return REGISTRY.get_sample_value("castellan_password_failures_total") or 0.0


def wrong(env: Env, link: str, n: int, headers: dict[str, str] | None = None) -> None:
    for _ in range(n):
        r = env.join(link, password="guess", headers=headers)
        assert r.status_code == 401, r.text


def test_five_failures_then_even_the_right_password_waits(env: Env, clock: Clock) -> None:
    link = env.link(password="right horse battery")["link"]
    before = failures_metric()
    wrong(env, link, 5)
    assert failures_metric() - before == 5
    r = env.join(link, password="right horse battery")
    assert r.status_code == 429
    assert r.json()["error"] == "too_many_attempts"
    assert r.headers["Retry-After"] == "60"
    clock.advance(30)
    assert env.join(link, password="right horse battery").headers["Retry-After"] == "30"
    clock.advance(30)
    assert env.join(link, password="right horse battery").status_code == 200


def test_four_failures_spread_over_time_do_not_trip_the_limit(env: Env, clock: Clock) -> None:
    link = env.link(password="right horse battery")["link"]
    for _ in range(3):
        wrong(env, link, 4)
        clock.advance(61)
    assert env.join(link, password="right horse battery").status_code == 200


def test_backoff_grows_then_locks_and_the_admin_sees_and_clears_it(env: Env, clock: Clock) -> None:
    link = env.link(password="right horse battery")["link"]
    waits = []
    for _ in range(2):
        wrong(env, link, 5)
        r = env.join(link, password="guess")
        waits.append(int(r.headers["Retry-After"]))
        clock.advance(waits[-1])
    assert waits == [60, 120]
    wrong(env, link, 5)
    r = env.join(link, password="right horse battery")
    assert (r.status_code, r.json()["error"]) == (429, "locked")
    assert int(r.headers["Retry-After"]) == 3600
    locks = env.client.get("/v1/tenants/acme/lockouts", headers=env.admin()).json()["lockouts"]
    by_scope = {lo["scope"]: lo for lo in locks}
    assert by_scope["link"]["key"] == link and by_scope["link"]["effect"] == "slowdown"
    assert by_scope["client"]["effect"] == "block" and by_scope["client"]["locked"] is True
    assert by_scope["client"]["key"] == "198.51.100.7" and by_scope["client"]["strikes"] == 3
    for scope, key in (("link", link), ("client", "198.51.100.7")):
        r = env.client.post("/v1/tenants/acme/lockouts/clear", json={"scope": scope, "key": key}, headers=env.admin())
        assert r.status_code == 200, r.text
    assert env.join(link, password="right horse battery").status_code == 200
    records = env.residency.audit.tenant_records("acme")
    kinds = [rec.kind for rec in records]
    assert kinds.count("join.wrong_password") == 15
    # the append-only audit log holds a pseudonym of the address (personal data), never the address
    ref = by_scope["client"]["ref"]
    assert ref.startswith("c-") and all(rec.actor == f"client:{ref}" for rec in records
                                        if rec.kind == "join.wrong_password")
    assert "198.51.100.7" not in " ".join(f"{rec.actor} {rec.data}" for rec in records)
    assert "join.backoff" in kinds and "join.locked" in kinds and "lockout.clear" in kinds
    assert "join.guessing" in kinds  # the link's signal


def test_guessing_from_many_addresses_slows_the_link_and_never_locks_it(env: Env, clock: Clock) -> None:
    """Issue 18: wrong passwords from rotating addresses used to lock the link for everyone (429 `locked` for
    every participant with the right password). Now they slow unknown guessers on it, and it is listed."""
    slow = env.control.checks.sleep
    assert isinstance(slow, Slowdowns)
    link = env.link(password="right horse battery")["link"]
    for _ in range(3):
        for i in range(5):
            c = TestClient(env.client.app, client=(f"203.0.113.{i}", 4000))
            assert c.post("/v1/join", json={"link": link, "name": "x", "password": "guess"}).status_code == 401
        clock.advance(5)
    assert slow.delays == [1.0] * 5 + [2.0] * 5  # each strike doubles the slowdown of the next checks
    lock = next(lo for lo in env.control.lockouts("acme") if lo["scope"] == "link")
    assert (lock["effect"], lock["locked"], lock["delay"]) == ("slowdown", True, 4.0)
    assert attacks.links_guessed() == 1
    fresh = TestClient(env.client.app, client=("203.0.113.99", 4000))
    r = fresh.post("/v1/join", json={"link": link, "name": "x", "password": "right horse battery"})
    assert r.status_code == 200, r.text
    assert slow.delays[-1] == 4.0
    clock.advance(3600)
    assert attacks.links_guessed() == 0


def test_five_wrong_from_one_address_do_not_make_another_person_wait(env: Env) -> None:
    """Issue 18: after 5 wrong tries from one address, a different person with the right password was told
    'Too many attempts'."""
    link = env.link(password="right horse battery")["link"]
    wrong(env, link, 5)
    other = TestClient(env.client.app, client=("192.0.2.99", 4000))
    r = other.post("/v1/join", json={"link": link, "name": "x", "password": "right horse battery"})
    assert r.status_code == 200, r.text
    assert env.join(link, password="right horse battery").status_code == 429  # the guesser itself waits


def test_the_limit_is_per_address_across_links(env: Env) -> None:
    """One address spraying guesses over many links is stopped too; other people are not."""
    links = [env.link(password="right horse battery")["link"] for _ in range(5)]
    for link in links:
        wrong(env, link, 1)
    sixth = env.link(password="right horse battery")["link"]
    r = env.join(sixth, password="right horse battery")
    assert r.status_code == 429 and "your address" in r.json()["message"]
    other = TestClient(env.client.app, client=("192.0.2.1", 4000))
    assert other.post("/v1/join", json={"link": sixth, "name": "y", "password": "right horse battery"}).status_code == 200


def test_a_correct_entry_makes_the_address_known_on_that_link(env: Env) -> None:
    """A typo or four, then the right password: the address is known on that link (judged by its own record
    there, not slowed by others' guessing); its failures still count across links."""
    slow = env.control.checks.sleep
    assert isinstance(slow, Slowdowns)
    link = env.link(password="right horse battery")["link"]
    wrong(env, link, 4)
    assert env.join(link, password="right horse battery").status_code == 200
    for i in range(5):  # others guess: the link is under guessing
        c = TestClient(env.client.app, client=(f"192.0.2.{i}", 4000))
        assert c.post("/v1/join", json={"link": link, "name": "y", "password": "guess"}).status_code == 401
    slow.delays.clear()
    assert env.join(link, password="right horse battery").status_code == 200
    assert slow.delays == []  # known: not slowed
    other_link = env.link(password="right horse battery")["link"]
    wrong(env, other_link, 1)  # the fifth failure from this address: backed off on other links
    assert env.join(other_link, password="right horse battery").status_code == 429
    assert env.join(link, password="right horse battery").status_code == 200  # ... not on the one it entered correctly


def test_wrong_host_keys_count_as_failures_too(env: Env) -> None:
    link = env.link(password="right horse battery", lobby=True)["link"]
    for _ in range(5):
        r = env.join(link, host_key="not-the-host-key")
        assert (r.status_code, r.json()["error"]) == (403, "wrong_host_key")
    assert env.join(link, password="right horse battery").status_code == 429


def test_a_link_under_guessing_does_not_lock_out_its_host_or_its_participants(env: Env, clock: Clock) -> None:
    """A per-link lock could be abused to keep a meeting shut: the host and people with the password get in."""
    link = env.link(password="right horse battery")
    for _ in range(3):
        for i in range(5):
            c = TestClient(env.client.app, client=(f"203.0.113.{i}", 4000))
            c.post("/v1/join", json={"link": link["link"], "name": "x", "password": "guess"})
        clock.advance(240)
    assert env.join(link["link"], password="right horse battery").status_code == 200
    r = env.join(link["link"], host_key=link["host_key"])
    assert r.status_code == 200 and r.json()["host"] is True


def test_an_attacker_cannot_lock_a_link_for_people_who_know_the_password(env: Env, clock: Clock) -> None:
    attacks.attacker_cannot_lock_a_link(env, clock)


def test_the_device_cookie_is_httponly_strict_signed_and_forgeries_count_for_nothing(env: Env, clock: Clock) -> None:
    attacks.behind_ingress(env.client.app)
    link = env.link(password="right horse battery")["link"]
    alice = attacks.browser(env)
    r = attacks.join(alice, link, "right horse battery", attacks.NAT)
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "; HttpOnly" in cookie and "; SameSite=Strict" in cookie
    assert "; Secure" in cookie and "; Path=/v1/join" in cookie
    assert attacks.join(alice, link, "right horse battery", attacks.NAT).headers.get("set-cookie") is None  # kept, not renewed
    env.config.public_url = "http://127.0.0.1:8000"  # a plain-http deployment (a lab): no Secure attribute
    plain = TestClient(env.client.app, client=("192.0.2.80", 4000))
    assert "; Secure" not in plain.post("/v1/join", json={"link": link, "name": "p", "password": "right horse battery"}
                                        ).headers["set-cookie"]
    for _ in range(3):  # the attacker locks the NAT address on this link
        for _ in range(5):
            assert attacks.join(attacks.browser(env), link, "guess", attacks.NAT).status_code == 401
        clock.advance(250)
    device, _, mac = alice.cookies[COOKIE].partition(".")
    other_device = device[:-1] + ("B" if device[-1] == "A" else "A")
    for value in (f"{device}.AAAAAAAAAAAAAAAAAAAAAA", f"{other_device}.{mac}", f"{device}.{mac}x", "garbage",
                  "x" * 500):
        r = TestClient(env.client.app, client=(attacks.INGRESS, 1), base_url="https://meet.example").post(
            "/v1/join", json={"link": link, "name": "x", "password": "right horse battery"},
            headers={"X-Forwarded-For": attacks.NAT, "Cookie": f"{COOKIE}={value}"})
        assert (r.status_code, r.json()["error"]) == (429, "locked"), (value, r.text)
    assert attacks.join(alice, link, "right horse battery", attacks.NAT).status_code == 200


def test_a_flood_of_join_requests_from_one_address_is_slowed_down(env: Env, clock: Clock) -> None:
    """Any outcome counts (even links that do not exist): 120 at once, then 10 a second."""
    link = env.link(no_password=True)["link"]
    codes = [env.join(link).status_code for _ in range(120)]
    assert codes == [200] * 120
    r = env.join(link)
    assert (r.status_code, r.json()["error"]) == (429, "slow_down") and r.headers["Retry-After"] == "1"
    clock.advance(1)
    assert env.join(link).status_code == 200
    other = TestClient(env.client.app, client=("192.0.2.9", 4000))
    assert other.post("/v1/join", json={"link": link, "name": "y"}).status_code == 200


def test_parallel_guesses_cannot_outrun_the_limit(env: Env) -> None:
    """Twenty wrong passwords sent at once: exactly five are checked, the rest wait and are then refused."""
    import asyncio

    import httpx

    link = env.link(password="right horse battery")["link"]
    before = failures_metric()

    async def storm() -> list[int]:
        transport = httpx.ASGITransport(app=env.client.app, client=("203.0.113.50", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://cp") as c:
            rs = await asyncio.gather(*[c.post("/v1/join", json={"link": link, "name": "x", "password": f"g{i}"})
                                        for i in range(20)])
        return sorted(r.status_code for r in rs)

    assert asyncio.run(storm()) == [401] * 5 + [429] * 15
    assert failures_metric() - before == 5
