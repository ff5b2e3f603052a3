"""The uvicorn settings the node's app needs, used by every place that serves it (`castellan node`,
`castellan dev`, the tests' harness), so all of them refuse what the protocol refuses the same way.

`websockets-sansio` checks each frame's length in its header against `ws_max_size` and fails the connection
(close 1009) before reading the payload, for fragmented messages against what is left of the limit, and for
permessage-deflate against the decompressed size; it hands the app one message at a time and stops reading the
socket until the app has taken it. So a socket holds at most one message of MAX_MESSAGE bytes on the node.
(uvicorn's default `ws_max_size` is 16 MiB, buffered before the app sees a byte.)
"""

from __future__ import annotations

import logging
from typing import Any

from sfu.app.limits import MAX_MESSAGE

# what uvicorn logs with a full traceback although only the client was wrong (it also closes the socket, 1007)
_CLIENT_FAULTS = ("Invalid UTF-8 sequence received from client.",)


def node_server_settings() -> dict[str, Any]:
    """Keyword arguments for `uvicorn.Config(app, host=..., port=..., **node_server_settings())`."""
    return {
        "ws": "websockets-sansio",
        "ws_max_size": MAX_MESSAGE,
        "ws_max_queue": 1,  # only read by the legacy `websockets` implementation: one message at a time there too
        "ws_per_message_deflate": True,  # inflated size counts against ws_max_size (no decompression bombs)
    }


class _ClientFaultsWithoutTraceback(logging.Filter):
    """A text frame that is not UTF-8 is the client's fault, not the node's: one warning line, no traceback
    (a client opening socket after socket must not fill the node's log with stack traces)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg in _CLIENT_FAULTS and record.exc_info:
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_client_faults() -> None:
    """Installs the filter on uvicorn's error logger (once; the node's lifespan calls it)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _ClientFaultsWithoutTraceback) for f in logger.filters):
        logger.addFilter(_ClientFaultsWithoutTraceback())
