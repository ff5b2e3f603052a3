"""Every participant is told before joining: the link page's info (GET /v1/links/{link}) carries the recording
policy in force for that link — the tenant's, tightened by the link's — and the text the join page shows; a link
cannot switch off what its tenant requires. Through the real control plane app on a real SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from recording.archive import Archive
from recording.policy import RecordingPolicy
from recording.store import LocalVolumeStore, TenantVault
from tests.control.cp_env import Env, make_env


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = make_env(tmp_path)
    yield e
    e.control.close()


def test_the_join_page_is_told_the_links_recording_policy(env: Env, tmp_path: Path) -> None:
    quiet, board = env.link(no_password=True)["link"], env.link(no_password=True)["link"]
    info = env.client.get(f"/v1/links/{board}").json()
    assert info["recording"] == {"policy": "off", "text": ""}
    archive = Archive(env.control.store.db, TenantVault(LocalVolumeStore(tmp_path / "v"), {}))
    archive.set_policy("acme", RecordingPolicy.ALLOWED, "admin:alice")
    archive.set_policy("acme", RecordingPolicy.REQUIRED, "admin:alice", link=board)
    archive.set_policy("acme", RecordingPolicy.OFF, "admin:alice", link=quiet)
    req = env.client.get(f"/v1/links/{board}").json()["recording"]
    assert req["policy"] == "required" and "recorded" in req["text"] and "Media starts only" in req["text"]
    assert env.client.get(f"/v1/links/{quiet}").json()["recording"]["policy"] == "off"
    archive.set_policy("acme", RecordingPolicy.REQUIRED, "admin:alice")  # the tenant now requires it everywhere
    assert env.client.get(f"/v1/links/{quiet}").json()["recording"]["policy"] == "required"
