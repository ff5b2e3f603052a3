"""Recorder pool keys the deployment made (the Helm chart's generated Secrets, mounted into the control plane as
<dir>/<region>/pool-key: CASTELLAN_RECORDER_POOL_KEY_DIR), enrolled at start for their region; docs/deploy.md,
"Recording". The key then works exactly as one minted with POST /v1/recorder-pool-keys: its region's pools only.

The hostile side: a configured file that tries to take over a stored key id (another secret, another region), to
revive a key the operator revoked, to name a region nobody defined, or that is not a key at all — the control
plane refuses to start rather than guess, and changes nothing."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from residency.audit import DEPLOYMENT_CHAIN
from signalling.cli.control_plane import _pool_keys, add_parser
from signalling.control.app import build_control_plane
from signalling.control.recorderpools import PoolKeyConfigError
from tests.control.cp_env import Env, make_env
from tests.control.recording_env import with_recording

KEY_ID = "5f0c9e2a7b1d3e48"
KEY = f"crk_{KEY_ID}.{'s' * 20}{'A1_-' * 6}"  # the chart's shape: crk_ + 16 hex + "." + 44


BACKENDS = ["sqlite", "postgresql"]  # replicas enroll with INSERT ... ON CONFLICT DO NOTHING on both stores


@pytest.fixture
def cenv(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> Iterator[Env]:
    recording = with_recording(tmp_path)

    def configure(config):  # type: ignore[no-untyped-def]
        recording(config)
        config.pool_keys = [("eu-1", KEY)]

    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    e = make_env(tmp_path, configure=configure, database_url=url)
    yield e
    e.control.close()


def _announce(env: Env, key: str, pool: str):  # type: ignore[no-untyped-def]
    return env.client.post(f"/v1/recorder-pools/{pool}/announce", json={"capacity": 1, "running": []},
                           headers={"Authorization": f"Bearer {key}"})


def _restart(env: Env, keys: list[tuple[str, str]]) -> None:
    """Another replica (or the next start) with this configuration, on the same database."""
    env.config.pool_keys = keys
    build_control_plane(env.config, residency=env.control.residency)


def _keys(env: Env) -> list[dict]:  # type: ignore[type-arg]
    r = env.client.get("/v1/recorder-pool-keys", headers=env.op())
    assert r.status_code == 200, r.text
    return r.json()["keys"]  # type: ignore[no-any-return]


def test_a_configured_key_is_enrolled_for_its_region_and_announces_there(cenv: Env) -> None:
    (key,) = _keys(cenv)
    assert key["key_id"] == KEY_ID and key["region"] == "eu-1" and key["label"] == "deployment configuration"
    assert "hash" not in key and KEY not in str(key)
    r = _announce(cenv, KEY, "castellan-recorder-eu-1-5d8f7-abcde")
    assert r.status_code == 200, r.text
    assert r.json()["region"] == "eu-1"  # the key's region, whatever the pool id says
    audited = [a for a in cenv.residency.audit.records(DEPLOYMENT_CHAIN) if a.kind == "recorder_pool_key.create"]
    assert [(a.actor, a.data["key_id"], a.data["region"]) for a in audited] == \
        [("operator:configuration", KEY_ID, "eu-1")]
    assert KEY.split(".")[1] not in str([a.data for a in audited]), "the secret part is never audited"
    # every replica and every restart enrolls the same file: nothing changes, no error
    _restart(cenv, [("eu-1", KEY)])
    _restart(cenv, [("eu-1", KEY + "\n")])  # a file's trailing newline
    assert len(_keys(cenv)) == 1
    # two replicas racing: the second insert of the id is a no-op, never a second row or a new hash
    assert cenv.control.store.add_pool_key_if_absent(KEY_ID, "us-1", "0" * 64, "race") is False
    assert _announce(cenv, KEY, "castellan-recorder-eu-1-5d8f7-abcde").status_code == 200


def test_a_revoked_configured_key_stays_revoked_after_a_restart(cenv: Env) -> None:
    r = cenv.client.delete(f"/v1/recorder-pool-keys/{KEY_ID}", headers=cenv.op())
    assert r.status_code in (200, 204), r.text
    assert _announce(cenv, KEY, "pool-a").status_code == 401
    _restart(cenv, [("eu-1", KEY)])  # the Secret is still mounted: configuration never revives a revoked key
    assert _announce(cenv, KEY, "pool-a").status_code == 401
    assert _keys(cenv)[0]["revoked"] is True


@pytest.mark.parametrize("region, key, why", [
    ("us-1", KEY, "contradicts the stored key"),                                     # move a key to another region
    ("eu-1", f"crk_{KEY_ID}.{'t' * 44}", "contradicts the stored key"),               # take over its id
    ("ap-1", f"crk_0123456789abcdef.{'u' * 44}", "not defined"),                      # a region nobody defined
    ("eu-1", "crk_short.x", "not a crk_"),                                            # not a key
    ("eu-1", f"cak_{KEY_ID}.{'v' * 44}", "not a crk_"),                               # an admin key's shape
    ("eu-1", f"crk_../../{KEY_ID}.{'w' * 44}", "not a crk_"),
    ("eu-1", f"crk_{KEY_ID.upper()}.{'w' * 44}", "not a crk_"),                     # an id the API could not revoke
])
def test_a_contradicting_or_malformed_configured_key_stops_the_start(cenv: Env, region: str, key: str,
                                                                     why: str) -> None:
    before = _keys(cenv)
    with pytest.raises(PoolKeyConfigError, match=why):
        _restart(cenv, [(region, key)])
    assert _keys(cenv) == before
    assert _announce(cenv, KEY, "pool-a").status_code == 200  # the stored key is untouched
    if key != KEY:
        assert _announce(cenv, key, "pool-b").status_code == 401
    else:  # still eu-1's key, never us-1's
        assert _announce(cenv, key, "pool-b").json()["region"] == "eu-1"


def test_an_api_minted_key_id_cannot_be_taken_over_by_a_configured_file(cenv: Env) -> None:
    r = cenv.client.post("/v1/recorder-pool-keys", json={"region": "us-1"}, headers=cenv.op())
    assert r.status_code == 201, r.text
    minted = r.json()["key"]
    key_id = minted.removeprefix("crk_").split(".")[0]
    forged = f"crk_{key_id}.{'z' * 44}"
    with pytest.raises(PoolKeyConfigError, match="contradicts"):
        _restart(cenv, [("us-1", forged)])
    assert _announce(cenv, forged, "pool-us").status_code == 401
    assert _announce(cenv, minted, "pool-us").status_code == 200


def test_the_cli_reads_the_charts_mount_layout(tmp_path: Path) -> None:
    """CASTELLAN_RECORDER_POOL_KEY_DIR: one <region>/pool-key per generated Secret (the projected volume)."""
    for region, key in (("eu-1", KEY), ("us-1", f"crk_0123456789abcdef.{'u' * 44}")):
        (tmp_path / region).mkdir()
        (tmp_path / region / "pool-key").write_text(key + "\n")
    (tmp_path / "README").write_text("not a region")
    assert _pool_keys(_args("--recorder-pool-key-dir", str(tmp_path))) == \
        [("eu-1", KEY), ("us-1", f"crk_0123456789abcdef.{'u' * 44}")]
    assert _pool_keys(_args()) == []


def _args(*argv: str) -> argparse.Namespace:
    top = argparse.ArgumentParser()
    add_parser(top.add_subparsers())
    return top.parse_args(["control-plane", *argv])
