"""`castellan node|dev|audit|residency|recording|recorder-pool|recorder-key`: commands owned by other parts. Their argv goes untouched to the owner's
`main(argv)`, imported only when asked for (a build without it gets a clear message, exit status 2)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

PASSTHROUGH = {
    "node": ("sfu.server", "main"),
    "dev": ("signalling.cli.dev", "main"),
    "audit": ("signalling.cli.audit", "main"),
    "residency": ("signalling.cli.residency", "main"),
    "recording": ("signalling.cli.recording", "main"),
    "recorder-pool": ("recording.pool.__main__", "main"),
    "recorder-key": ("recording.pool.attestation", "main"),
}


def add_parsers(sub: Any) -> None:
    """Listed in `castellan --help`; never parsed here."""
    for name in PASSTHROUGH:
        sub.add_parser(name, help=f"see `castellan {name} --help`", add_help=False)


def dispatch(command: str, argv: list[str]) -> int:
    module, func = PASSTHROUGH[command]
    try:
        target: Callable[[list[str]], int | None] = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as e:
        print(f"castellan: `{command}` is not available in this build ({module}.{func}: {e})", file=sys.stderr)
        return 2
    return int(target(argv) or 0)
