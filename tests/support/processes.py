"""A process a test starts — optionally inside a network namespace — in its own session (process group), so a
stop or kill reaches its children too, and only them. Output goes to a log file; `output()`/`tail()` read it.
`descendants` and `group_members` find, from /proc, what a process started and what of it still runs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable


class Proc:
    """`argv` run from the repository (with it on PYTHONPATH), inside namespace `ns` when given, output to `log`."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, ns: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._out: IO[bytes] = open(log, "wb")  # noqa: SIM115 - closed in stop()/kill()
        full = ["ip", "netns", "exec", ns, *argv] if ns else list(argv)
        self.proc = subprocess.Popen(full, cwd=REPO, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", **(env or {})})
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL, no goodbye (a crashed host)."""
        self._signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self._out.close()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> None:
        """`sig` (SIGTERM) to the process group, SIGKILL if it is still running `timeout` seconds later."""
        if self.alive():
            self._signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(5)
        self._out.close()

    def output(self) -> str:
        """Everything the process wrote so far ("" when the log cannot be read)."""
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, n: int = 4000) -> str:
        """The last `n` characters of the log, headed by the process's name."""
        try:
            return f"--- {self.name} ({self.log}) ---\n" + self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def _stats() -> Iterator[tuple[int, list[str]]]:
    """(pid, the fields of /proc/<pid>/stat after the command name) for every process still there to be read."""
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            yield int(d.name), fields


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, theirs, and so on), from /proc."""
    children: dict[int, list[int]] = {}
    for child, fields in _stats():
        with contextlib.suppress(IndexError, ValueError):
            children.setdefault(int(fields[1]), []).append(child)
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def group_members(pgids: set[int]) -> list[int]:
    """Live processes (not zombies) in any of these process groups."""
    return [pid for pid, fields in _stats() if fields[0] != "Z" and int(fields[2]) in pgids]
