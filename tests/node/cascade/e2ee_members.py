"""Headless E2EE members (the browser client's own modules in Node.js, tests/node/cascade/members.mjs) driven
from a test: one process, one JSON line per command. Used by the cascade tests in process and with node
processes (tests/node/cascade/test_e2ee_cascade.py, tests/cluster/test_cascade_e2ee.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

DRIVER = Path(__file__).with_name("members.mjs")
ROOT = Path(__file__).resolve().parents[3]


class Members:
    """The headless members' process: one JSON line per command, one answer each."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls) -> Members:
        proc = await asyncio.create_subprocess_exec("node", str(DRIVER), cwd=ROOT, stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE, limit=4 * 1024 * 1024)
        return cls(proc)

    async def ask(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        answer: dict[str, Any] = json.loads(line)
        assert "error" not in answer, answer["error"]
        return answer

    async def join(self, name: str, ws_url: str, token: str, credential: dict[str, str] | None = None,
                   recorder: str | None = None) -> None:
        """`credential` ({tenant, room, recording}): a recorded meeting's member, holding the link's recorder key;
        with `recorder` (its participant id) the recorder page instead, attested by the process's recorder key."""
        extra: dict[str, Any] = {"credential": credential} if credential else {}
        if recorder:
            extra["recorder"] = recorder
        await self.ask(op="join", name=name, ws=ws_url, token=token, **extra)

    async def state(self) -> dict[str, dict[str, Any]]:
        return (await self.ask(op="state"))["state"]

    async def agreed(self, names: set[str], timeout: float = 60.0, after: int = -1) -> dict[str, dict[str, Any]]:
        """Waits until every one of `names` is a member of one epoch (later than `after`) whose roster is exactly
        `names`."""
        last: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = await self.state()
            views = [last[n] for n in names]
            ids = sorted(v["participant"] for v in views)
            if (all(v["phase"] == "member" and v["roster"] == ids for v in views)
                    and len({v["epoch"] for v in views}) == 1 and len({v["safety"] for v in views}) == 1
                    and views[0]["epoch"] > after):
                return last
            await asyncio.sleep(0.2)
        raise AssertionError(f"no agreement on {sorted(names)}: {json.dumps(last, indent=1)}")

    async def frames_open(self, sender: str, receivers: list[str], timeout: float = 20.0) -> bool:
        """`sender` seals a frame under its sending epoch until every receiver opens one (the sending epoch moves
        a moment after the epoch)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = (await self.ask(op="frame", **{"from": sender}, to=receivers))["frame"]
            if all(got[r] for r in receivers):
                return True
            await asyncio.sleep(0.2)
        return False

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ask(op="quit")
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        await self.proc.wait()
