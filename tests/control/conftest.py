from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cp_env import Clock, Env, make_env


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def env(tmp_path: Path, clock: Clock) -> Iterator[Env]:
    e = make_env(tmp_path, clock)
    yield e
    e.control.close()
