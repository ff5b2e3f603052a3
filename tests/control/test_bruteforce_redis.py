"""With several control-plane processes the password-failure budget is shared through Redis (real
redis-server): an attacker alternating between two replicas still gets five guesses a minute, not ten."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from signalling.control.app import create_app
from signalling.control.redis_limiter import RedisFailureLimiter
from tests.control.cp_env import Clock, Env, make_env
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
