from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.control.cp_env import Clock, Env, make_env
from tests.control.recording_env import with_recording

# `redis_server` (a real redis-server, session-scoped) comes from tests/conftest.py


@pytest.fixture
def clock() -> Clock:
    return Clock()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test module with `BACKENDS = ["sqlite", "postgresql"]` runs its `env` tests on both stores."""
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", getattr(metafunc.module, "BACKENDS", ["sqlite"]))


@pytest.fixture
def env(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock, backend: str) -> Iterator[Env]:
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    e = make_env(tmp_path, clock, database_url=url)
    yield e
    e.control.close()


@pytest.fixture
def renv(tmp_path: Path) -> Iterator[Env]:
    """A control plane with recording configured (tests/control/recording_env.py)."""
    e = make_env(tmp_path, configure=with_recording(tmp_path))
    yield e
    e.control.close()
