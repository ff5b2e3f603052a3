"""mypy's proof that every engine implements the interface declared in native/interface.py.

Nothing calls `_conforms`; mypy (`mypy native`) checks the assignments: the compiled engine (through
native/engine.pyi), its threaded wrapper and the pure-Python reference must each be an `EngineApi`, and the
threaded wrapper an `EngineControl` whose methods are the locked ones. `IMPLEMENTATIONS` serves the run-time
check (tests/native/test_interface.py) that the three expose exactly the Protocol's methods.
"""

from __future__ import annotations

from native.engine import Engine
from native.interface import EngineApi, EngineControl
from native.reference import ReferenceForwarder
from native.threaded import ThreadedEngine

IMPLEMENTATIONS: tuple[type, ...] = (Engine, ThreadedEngine, ReferenceForwarder)


def _conforms(native: Engine, threaded: ThreadedEngine, reference: ReferenceForwarder) -> None:
    engines: list[EngineApi] = [native, threaded, reference]
    locked: EngineControl = threaded
    del engines, locked
