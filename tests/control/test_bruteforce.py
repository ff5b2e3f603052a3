"""Brute force: five wrong passwords a minute, then a growing back-off (429 + Retry-After) that even the right
password must sit out, then a lock the tenant admin can see and clear. Counted as a metric, audited."""

from __future__ import annotations

from prometheus_client import REGISTRY
from starlette.testclient import TestClient

from tests.control.cp_env import Clock, Env


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
    assert by_scope["link"]["key"] == link and by_scope["link"]["locked"] is True
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


def test_the_limit_is_per_link_across_addresses(env: Env) -> None:
    """An attacker rotating source addresses still only gets five guesses a minute at one link."""
    link = env.link(password="right horse battery")["link"]
    for i in range(5):
        c = TestClient(env.client.app, client=(f"203.0.113.{i}", 4000))
        assert c.post("/v1/join", json={"link": link, "name": "x", "password": "guess"}).status_code == 401
    fresh = TestClient(env.client.app, client=("203.0.113.99", 4000))
    r = fresh.post("/v1/join", json={"link": link, "name": "x", "password": "right horse battery"})
    assert r.status_code == 429 and "meeting link" in r.json()["message"]


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


def test_a_success_clears_the_address_but_not_the_link(env: Env) -> None:
    link = env.link(password="right horse battery")["link"]
    wrong(env, link, 4)
    assert env.join(link, password="right horse battery").status_code == 200
    other = TestClient(env.client.app, client=("192.0.2.2", 4000))
    assert other.post("/v1/join", json={"link": link, "name": "y", "password": "guess"}).status_code == 401
    assert env.join(link, password="right horse battery").status_code == 429  # the link's budget was not reset


def test_wrong_host_keys_count_as_failures_too(env: Env) -> None:
    link = env.link(password="right horse battery", lobby=True)["link"]
    for _ in range(5):
        r = env.join(link, host_key="not-the-host-key")
        assert (r.status_code, r.json()["error"]) == (403, "wrong_host_key")
    assert env.join(link, password="right horse battery").status_code == 429


def test_a_locked_link_does_not_lock_out_its_host(env: Env, clock: Clock) -> None:
    """Per-link locks could be abused to keep a meeting shut; the host (unguessable host key) still gets in."""
    link = env.link(password="right horse battery")
    for _ in range(3):
        for i in range(5):
            c = TestClient(env.client.app, client=(f"203.0.113.{i}", 4000))
            c.post("/v1/join", json={"link": link["link"], "name": "x", "password": "guess"})
        clock.advance(240)
    assert env.join(link["link"], password="right horse battery").json()["error"] == "locked"
    r = env.join(link["link"], host_key=link["host_key"])
    assert r.status_code == 200 and r.json()["host"] is True


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
