"""With several control-plane processes the password-failure budgets are shared through Redis (real
redis-server): an attacker alternating between two replicas still gets five guesses a minute, not ten; known
browsers and addresses, and a link's slowdown, hold on every replica."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from signalling.control.app import create_app
from signalling.control.redis_limiter import RedisFailureLimiter
from tests.control import attacks
from tests.control.cp_env import Clock, Env, Slowdowns, make_env
from tests.fixtures.redis import RedisServer


@pytest.fixture
def replicas(tmp_path: Path, redis_server: RedisServer, clock: Clock) -> Iterator[tuple[Env, TestClient]]:
    client = redis.Redis.from_url(redis_server.url)
    prefix = f"castellan-test:{tmp_path.name}"
    env = make_env(tmp_path, clock)
    env.control.limiter = RedisFailureLimiter(client, clock=clock, prefix=prefix)
    # a second replica: another ControlPlane on the same database, sharing the same Redis
    from signalling.control.app import build_control_plane
    from signalling.control.residency_adapter import ResidencyAdapter

    second = build_control_plane(env.config, residency=ResidencyAdapter(env.residency), keyring=env.control.keyring)
    second.limiter = RedisFailureLimiter(client, clock=clock, prefix=prefix)
    second.clock = clock
    if second.requests is not None:
        second.requests.clock = clock
    second.checks.sleep = Slowdowns()
    yield env, TestClient(create_app(env.config, control=second), client=("198.51.100.7", 50000))
    second.close()
    env.control.close()


def test_replicas_share_one_budget(replicas: tuple[Env, TestClient], clock: Clock) -> None:
    env, other = replicas
    link = env.link(password="right horse battery")["link"]
    for i in range(5):
        c = env.client if i % 2 else other
        assert c.post("/v1/join", json={"link": link, "name": "x", "password": "guess"}).status_code == 401
    for c in (env.client, other):
        r = c.post("/v1/join", json={"link": link, "name": "x", "password": "right horse battery"})
        assert r.status_code == 429 and r.headers["Retry-After"] == "60"
    clock.advance(60)
    assert other.post("/v1/join", json={"link": link, "name": "x", "password": "right horse battery"}).status_code == 200


def test_backoff_lock_and_admin_clear_work_on_redis(replicas: tuple[Env, TestClient], clock: Clock) -> None:
    env, other = replicas
    link = env.link(password="right horse battery")["link"]
    waits = []
    for _ in range(3):
        for _ in range(5):
            other.post("/v1/join", json={"link": link, "name": "x", "password": "guess"})
        r = env.join(link, password="right horse battery")
        waits.append((r.json()["error"], int(r.headers["Retry-After"])))
        clock.advance(waits[-1][1] if len(waits) < 3 else 0)
    assert waits == [("too_many_attempts", 60), ("too_many_attempts", 120), ("locked", 3600)]
    locks = env.client.get("/v1/tenants/acme/lockouts", headers=env.admin()).json()["lockouts"]
    assert {(lo["scope"], lo["locked"]) for lo in locks} == {("link", True), ("client", True)}
    for lo in locks:
        r = other.post("/v1/tenants/acme/lockouts/clear", json={"scope": lo["scope"], "key": lo["key"]},
                       headers=env.admin())
        assert r.status_code == 200
    assert env.join(link, password="right horse battery").status_code == 200
    assert env.client.get("/v1/tenants/acme/lockouts", headers=env.admin()).json()["lockouts"] == []


def test_an_attacker_cannot_lock_a_link_on_redis(replicas: tuple[Env, TestClient], clock: Clock) -> None:
    """The attack of test_bruteforce.py with the limiter shared through Redis, the attacker's second address
    and the legitimate participant from elsewhere answered by the other replica: the same outcome."""
    env, other = replicas
    attacks.attacker_cannot_lock_a_link(env, clock, other)


def test_known_entries_and_the_link_signal_are_shared(replicas: tuple[Env, TestClient], clock: Clock) -> None:
    """A correct entry on one replica makes the browser known on the other; a link's slowdown shows on both."""
    env, other = replicas
    slow = attacks.behind_ingress(env.client.app, other.app)
    link = env.link(password="right horse battery")["link"]
    alice = attacks.browser(env)
    assert attacks.join(alice, link, "right horse battery", attacks.NAT).status_code == 200
    for i in range(5):
        assert attacks.join(attacks.browser(env, other.app), link, "guess", f"192.0.2.{i}").status_code == 401
    assert env.control.limiter.strikes("link", link) == other.app.state.control.limiter.strikes("link", link) == 1
    slow.delays.clear()
    assert attacks.join(attacks.browser(env, other.app), link, "right horse battery", attacks.ELSEWHERE).status_code == 200
    assert slow.delays == [1.0]
    alice_there = attacks.browser(env, other.app)
    alice_there.cookies = alice.cookies
    slow.delays.clear()
    assert attacks.join(alice_there, link, "right horse battery", "192.0.2.200").status_code == 200  # new address, known browser
    assert slow.delays == []
