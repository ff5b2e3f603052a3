"""Fixtures for the residency stories: a fake clock, a small world of regions, a service on a real SQLite file,
and a real redis-server (tests/fixtures/redis.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from residency.catalogue import Catalogue, load_catalogue
from residency.registry import MemoryRegistry, RedisRegistry
from residency.service import ResidencyService
from tests.fixtures.redis import RedisServer  # the `redis_server` fixture itself comes from tests/conftest.py
from tests.residency.residency_world import REGIONS, FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture
def registry(clock: FakeClock) -> MemoryRegistry:
    return MemoryRegistry(node_ttl=6.0, clock=clock)


@pytest.fixture
def svc(tmp_path: Path, registry: MemoryRegistry, clock: FakeClock) -> Iterator[ResidencyService]:
    """A deployment with regions eu-1, eu-2, ch-1, us-1, au-1 and tenant "acme" (EU, default policy)."""
    service = ResidencyService(tmp_path / "castellan.db", registry=registry, clock=clock)
    for r in REGIONS.values():
        service.define_region(r.id, r.jurisdiction, r.location, r.display_name, actor="operator")
    service.create_tenant("acme", "ACME GmbH", "EU", actor="operator")
    yield service
    service.db.close()


@pytest.fixture
def redis_registry(redis_server: RedisServer) -> RedisRegistry:
    """A RedisRegistry with a private key prefix, so tests never see each other's keys."""
    return RedisRegistry(redis_server.url, prefix=f"test-{uuid.uuid4().hex[:8]}", node_ttl=6.0)
