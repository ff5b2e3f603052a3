"""Findings in code this branch does not own (reported to its owners, not fixed here). The campaign keeps
fuzzing past them (runner.py skips an exception that matches) and `tests/fuzz/known/<target>/` keeps one input
each: test_replay.py checks they still fail the same way, so the day one is fixed the test says to move the
input into the corpus, where it then guards the fix."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

KNOWN_DIR = Path(__file__).parent / "known"


@dataclass(frozen=True)
class Known:
    target: str
    exc: type[BaseException]
    where: str      # "file.py:function" of the innermost frame of the traceback
    note: str

    def matches(self, e: BaseException) -> bool:
        frames = traceback.extract_tb(e.__traceback__)
        return isinstance(e, self.exc) and bool(frames) and f"{Path(frames[-1].filename).name}:{frames[-1].name}" == \
            self.where


# None open: the five recorded while the fuzz branch ran (join tokens with exp Infinity/NaN or a lone surrogate,
# the same over the WebSocket, a message pipelined behind `leave`) were fixed on the tokens and signalling
# branches; their inputs are in the corpus as `found-*`.
KNOWN: tuple[Known, ...] = ()


def known_for(target: str) -> tuple[Known, ...]:
    return tuple(k for k in KNOWN if k.target == target)
