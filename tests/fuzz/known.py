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


_VERIFY = "signalling/tokens/verifying.py (TokenVerifier.verify), owned by the tokens branch"
KNOWN: tuple[Known, ...] = (
    Known("join_token", OverflowError, "verifying.py:verify",
          f"{_VERIFY}: a signed token with exp Infinity (JSON 1e400) passes the time checks, then int(exp) raises"),
    Known("join_token", ValueError, "verifying.py:verify",
          f"{_VERIFY}: a signed token with exp NaN passes the time checks (NaN compares false), then int(exp) "
          "raises; nbf NaN is accepted as valid"),
    Known("join_token", UnicodeEncodeError, "api_jws.py:_load",
          f"{_VERIFY}: a token with a lone surrogate (JSON \\ud800) reaches PyJWT, whose str.encode raises"),
    Known("node_ws", UnicodeEncodeError, "api_jws.py:_load",
          "the same, from the WebSocket: {\"type\": \"join\", \"token\": \"\\ud800.a.b\"} gets internal_error "
          "and a logged traceback per message, from any client without a token"),
    Known("node_ws", RuntimeError, "websockets.py:receive_text",
          "sfu/app/signalling.py (NodeSignalling.websocket), owned by the signalling branch: after 'leave' the "
          "writer task closes the socket; a message the client pipelined behind 'leave' sends the reader loop "
          "back to receive_text on a closed socket: RuntimeError, logged as 'signalling connection failed' "
          "with a traceback instead of ending quietly"),
)


def known_for(target: str) -> tuple[Known, ...]:
    return tuple(k for k in KNOWN if k.target == target)
