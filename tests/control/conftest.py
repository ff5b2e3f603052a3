from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.control.cp_env import Clock, Env, make_env

# `redis_server` (a real redis-server, session-scoped) comes from tests/conftest.py


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def env(tmp_path: Path, clock: Clock) -> Iterator[Env]:
    e = make_env(tmp_path, clock)
    yield e
    e.control.close()
