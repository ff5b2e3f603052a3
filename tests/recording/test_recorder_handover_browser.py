"""Issue 15, the recorder joins without the link secret (docs/recording.md, "Handing the link secret to the
recorder"), end to end in a loopback-only namespace: a real control plane and node (tests/recording/pool_stack.py),
the real pool process given the tenant's recorder key (`--recorder-key`) and NO link secret, people in Debian's
Chromium joining from links whose fragment carries the key's public half (`#k=…&r=…`). The pool's production
recorder page has its KeyPackage attested by its pool over the sink; the committing member checks it and seals
the link's secrets to it; the recorder opens them, then the Welcome, and the `required` meeting is recorded:
everyone decodes, every page says "● REC", and the recording is sealed with media."""

from __future__ import annotations

import json

import pytest

from recording.pool.attestation import new_key
from tests.browser.netns import run_driver
from tests.recording.pool_world import pool_world

pytestmark = [pytest.mark.browser, pytest.mark.netns, pytest.mark.timeout(600)]


def test_a_pool_with_only_the_recorder_key_is_handed_the_link_secrets_and_records() -> None:
    with pool_world("recorder-handover") as world:
        private, public = new_key()  # the tenant's recorder key pair, made by the tenant (castellan recorder-key new)
        keys = world.work / "recorder-keys.json"
        keys.write_text(json.dumps({"acme": private}))
        keys.chmod(0o600)
        argv = world.pool_argv("eu-1", "pool-eu-a", "--recorder-key", str(keys))  # no --link-secrets: never L
        cfg = {**world.stack, "pool_argv": argv, "pool_log": str(world.work / "pool.log"), "record_seconds": 6,
               "recorder_public_key": public}
        result = run_driver(world.ns, "recorder_handover", cfg, timeout=480, name="recorder-handover")
    assert "error" not in result, world.failure(result, "pool.log")
    for k, v in result["after"].items():
        assert not v["waiting"] and "ACME archive" in v["roster"], (k, v["roster"])
    assert set(result["live_indicators"].values()) == {"● REC"}
    # the committing member sealed the handover; nobody refused the recorder's attested KeyPackage
    assert sum(h["sent"] for h in result["handovers"].values()) >= 1, result["handovers"]
    assert all(h["refused"] == 0 for h in result["handovers"].values()), result["handovers"]
    [sealed] = result["sealed"]
    assert sealed["regions"] == ["eu-1"] and {f["kind"] for f in sealed["files"]} >= {"video", "audio"}, sealed["files"]
    assert "no_link_secret" not in world.log("pool.log")
    assert result["pool_exit"] == 0
