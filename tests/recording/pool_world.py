"""What tests/recording/test_recorder_pool_browser.py and test_recorder_handover_browser.py both stand up: a
loopback-only namespace running tests/recording/pool_stack.py (control plane and node), and the argv of a real
`python -m recording.pool` for one of the stack's regions — the tests differ in what the pool is given to reach the
meetings' secrets (`--link-secrets` or `--recorder-key`) and in the scenario tests/browser/pool_scenarios.py runs."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.browser.netns import (
    ARTIFACTS,
    HTTP_PORT,
    PYTHON,
    UDP_PORT,
    WEB_PORT,
    NsProcess,
    loopback_namespace,
    skip_unless_possible,
)
from tests.support.waiting import wait_until


@dataclass
class PoolWorld:
    ns: str
    work: Path  # under artifacts/browser: what the stack, the pools and the driver leave there is kept
    stack: dict[str, Any]  # what pool_stack.py made: URLs, database, volume, tenant keys, pool keys, links
    stack_log: str = ""  # the stack's output, once the world is torn down

    def pool_argv(self, region: str, pool: str, *access: str) -> list[str]:
        """A pool of capacity 1 with `region`'s scoped key (written to a 0600 file), sealing 5 s segments;
        `access` is how it reaches the meetings' secrets."""
        key = self.work / f"{pool}.key"
        key.write_text(self.stack["pool_keys"][region])
        key.chmod(0o600)
        s = self.stack
        return [PYTHON, "-m", "recording.pool", "--control-plane-url", s["control_url"], "--key-file", str(key),
                "--pool-id", pool, "--capacity", "1", "--client-url", s["control_url"], "--database", s["db"],
                "--volume", s["volume"], "--tenant-keys", s["tenant_keys"], *access,
                "--workdir", str(self.work / f"{pool}-work"), "--interval", "1", "--segment-seconds", "5"]

    def log(self, name: str) -> str:
        """The log file `name` in `work` ("" when there is none)."""
        path = self.work / name
        return path.read_text() if path.exists() else ""

    def failure(self, result: dict[str, Any], pool_log: str) -> str:
        """Why a scenario failed: its error, the browsers' last console lines, the ends of the pool's and the
        stack's logs."""
        return result.get("error", "") + "\nconsole:\n" + "\n".join(result.get("console", [])[-30:]) + \
            "\npool:\n" + self.log(pool_log)[-3000:] + "\nstack:\n" + self.stack_log[-3000:]


@contextmanager
def pool_world(name: str) -> Iterator[PoolWorld]:
    """The namespace with pool_stack.py running in it (skips where namespaces or Chromium are missing); the
    stack's output is in `stack_log` after the block."""
    skip_unless_possible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    work = ARTIFACTS / f"{name}-{secrets.token_hex(3)}"
    work.mkdir(mode=0o700)
    out = work / "stack.out.json"
    cfg_path = work / "stack.json"
    cfg_path.write_text(json.dumps({"workdir": str(work / "stack"), "out": str(out), "web_port": WEB_PORT,
                                    "node_port": HTTP_PORT, "udp_port": UDP_PORT}))
    with loopback_namespace() as ns:
        stack_proc = NsProcess(ns, [PYTHON, "tests/recording/pool_stack.py", str(cfg_path)], work / "stack.log")
        world = PoolWorld(ns, work, {})
        try:
            wait_until(lambda: out.exists() or not stack_proc.alive(), 60, 0.2)
            assert out.exists(), stack_proc.output()[-4000:]
            world.stack = json.loads(out.read_text())
            yield world
        finally:
            world.stack_log = stack_proc.output()
            stack_proc.stop()
