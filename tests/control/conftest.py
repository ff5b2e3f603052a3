from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cp_env import Clock, Env, make_env

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # make `tests.fixtures` importable

from tests.fixtures.redis import redis_server  # noqa: E402, F401  (a real redis-server, session-scoped)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def env(tmp_path: Path, clock: Clock) -> Iterator[Env]:
    e = make_env(tmp_path, clock)
    yield e
    e.control.close()
