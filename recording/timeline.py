"""The meeting's timeline and chat as the recorder saw them: one JSON object per line, appended as it happens (a
recorder that dies keeps everything up to its last line). Kinds: join, leave, speaker, chat, track, gap,
recorder_start, recorder_stop. `t` is milliseconds since the Unix epoch, from the recorder's clock."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import IO

KINDS = frozenset({"join", "leave", "speaker", "chat", "track", "gap", "recorder_start", "recorder_stop"})
MAX_TEXT = 16384


class Timeline:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._f: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the recording's life
        self.count = 0

    def add(self, kind: str, t: float, fields: Mapping[str, object]) -> bool:
        """False (a counted drop by the caller) for an unknown kind or fields that are not plain short text/ints."""
        if kind not in KINDS:
            return False
        clean: dict[str, object] = {"kind": kind, "t": int(t)}
        for k, v in fields.items():
            if k in clean or not isinstance(k, str) or len(k) > 32:
                return False
            if isinstance(v, str):
                if len(v) > MAX_TEXT:
                    return False
            elif not (v is None or isinstance(v, bool | int)):
                return False
            clean[k] = v
        self._f.write(json.dumps(clean, sort_keys=True, ensure_ascii=False) + "\n")
        self._f.flush()
        self.count += 1
        return True

    def close(self) -> None:
        self._f.close()


def read(path: Path) -> list[dict[str, object]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out
