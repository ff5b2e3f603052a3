"""Issue 15, the recorder joins without the link secret (docs/recording.md, "Handing the link secret to the
recorder"), end to end in a loopback-only namespace: a real control plane and node (tests/recording/pool_stack.py),
the real pool process given the tenant's recorder key (`--recorder-key`) and NO link secret, people in Debian's
Chromium joining from links whose fragment carries the key's public half (`#k=…&r=…`). The pool's production
recorder page has its KeyPackage attested by its pool over the sink; the committing member checks it and seals
the link's secrets to it; the recorder opens them, then the Welcome, and the `required` meeting is recorded:
everyone decodes, every page says "● REC", and the recording is sealed with media."""

from __future__ import annotations

import json
import secrets

import pytest

from recording.pool.attestation import new_key
from tests.browser.netns import (
    ARTIFACTS,
    HTTP_PORT,
    PYTHON,
    UDP_PORT,
    WEB_PORT,
    NsProcess,
    loopback_namespace,
    run_driver,
    skip_unless_possible,
)
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.netns, pytest.mark.timeout(600)]


def test_a_pool_with_only_the_recorder_key_is_handed_the_link_secrets_and_records() -> None:
    skip_unless_possible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = "recorder-handover"
    work = ARTIFACTS / f"{name}-{secrets.token_hex(3)}"
    work.mkdir(mode=0o700)
    out = work / "stack.out.json"
    cfg_path = work / "stack.json"
    cfg_path.write_text(json.dumps({"workdir": str(work / "stack"), "out": str(out), "web_port": WEB_PORT,
                                    "node_port": HTTP_PORT, "udp_port": UDP_PORT}))
    private, public = new_key()  # the tenant's recorder key pair, made by the tenant (castellan recorder-key new)
    keys = work / "recorder-keys.json"
    keys.write_text(json.dumps({"acme": private}))
    keys.chmod(0o600)
    with loopback_namespace() as ns:
        stack_proc = NsProcess(ns, [PYTHON, "tests/recording/pool_stack.py", str(cfg_path)], work / "stack.log")
        try:
            wait_until(lambda: out.exists() or not stack_proc.alive(), 60, 0.2)
            assert out.exists(), stack_proc.output()[-4000:]
            stack = json.loads(out.read_text())
            pool_key = work / "pool.key"
            pool_key.write_text(stack["pool_keys"]["eu-1"])
            pool_key.chmod(0o600)
            argv = [PYTHON, "-m", "recording.pool", "--control-plane-url", stack["control_url"], "--key-file",
                    str(pool_key), "--pool-id", "pool-eu-a", "--capacity", "1", "--client-url", stack["control_url"],
                    "--database", stack["db"], "--volume", stack["volume"], "--tenant-keys", stack["tenant_keys"],
                    "--recorder-key", str(keys),  # and no --link-secrets: the pool never holds L
                    "--workdir", str(work / "pool-work"), "--interval", "1", "--segment-seconds", "5"]
            cfg = {**stack, "pool_argv": argv, "pool_log": str(work / "pool.log"), "record_seconds": 6,
                   "recorder_public_key": public}
            result = run_driver(ns, "recorder_handover", cfg, timeout=480, name=name)
        finally:
            stack_log = stack_proc.output()
            stack_proc.stop()
    pool_log = (work / "pool.log").read_text() if (work / "pool.log").exists() else ""
    assert "error" not in result, result["error"] + "\nconsole:\n" + "\n".join(result.get("console", [])[-30:]) + \
        "\npool:\n" + pool_log[-3000:] + "\nstack:\n" + stack_log[-3000:]
    for k, v in result["after"].items():
        assert not v["waiting"] and "ACME archive" in v["roster"], (k, v["roster"])
    assert set(result["live_indicators"].values()) == {"● REC"}
    # the committing member sealed the handover; nobody refused the recorder's attested KeyPackage
    assert sum(h["sent"] for h in result["handovers"].values()) >= 1, result["handovers"]
    assert all(h["refused"] == 0 for h in result["handovers"].values()), result["handovers"]
    [sealed] = result["sealed"]
    assert sealed["regions"] == ["eu-1"] and {f["kind"] for f in sealed["files"]} >= {"video", "audio"}, sealed["files"]
    assert "no_link_secret" not in pool_log
    assert result["pool_exit"] == 0
