"""The native engine as the node uses it: on its own media thread (default) or driven by the event loop.

On the media threads (one per media worker), datagrams are received, forwarded and sent without the GIL, so Python work (signalling,
HTTP, timers, RTCP decisions) never delays media, and media never waits for the event loop. Every call Python
makes into the engine then takes every worker's lock, which a media thread holds only while it processes one
batch (`Engine.serve`): the per-packet path itself never pays for the lock per packet.

Which methods take the lock is not a list of names kept here: it is every method of
`native.interface.EngineControl`, the part of the engine's interface that reads or changes what the media
thread uses.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from native import engine as native
from native.interface import EngineApi, EngineControl, Event, members

_E = TypeVar("_E", bound=type)


def _locked(base: Callable[..., Any]) -> Callable[..., Any]:
    def method(self: ThreadedEngine, *args: Any, **kwargs: Any) -> Any:
        if self._holder == threading.get_ident():  # inside `held` on this thread: the lock is ours already
            return base(self, *args, **kwargs)
        self._lock()
        try:
            return base(self, *args, **kwargs)
        finally:
            self._unlock()

    method.__name__ = method.__qualname__ = base.__name__
    method.__doc__ = base.__doc__
    return method


def _locking(protocol: type) -> Callable[[_E], _E]:
    """Class decorator: each method `protocol` declares takes the engine's lock around the base method."""

    def decorate(cls: _E) -> _E:
        for name in members(protocol):
            setattr(cls, name, _locked(getattr(cls.__mro__[1], name)))
        return cls

    return decorate


@_locking(EngineControl)
class ThreadedEngine(native.Engine):
    """`native.engine.Engine` whose EngineControl methods may be called from the event loop while `serve` runs on
    a media thread (see MediaThread)."""

    _holder: int = 0  # the thread inside `held` (its calls do not take the lock again), else 0


@contextlib.contextmanager
def held(engine: object) -> Iterator[None]:
    """One lock for a run of engine calls from this thread, instead of one per call: each call that takes the
    lock may wait for a media thread to finish its batch, and under CPU contention that batch's thread may not
    even be running — hundreds of calls a second (per-participant reports, keyframe checks, a DTLS flight's
    records) each paid that wait on the event loop. Hold it only around engine calls and the little Python
    between them: media waits while it is held. Re-entrant on the holding thread; nothing for an engine that
    is not threaded."""
    if not isinstance(engine, ThreadedEngine) or engine._holder == threading.get_ident():
        yield
        return
    engine._lock()
    engine._holder = threading.get_ident()
    try:
        yield
    finally:
        engine._holder = 0
        engine._unlock()


LOCKED: tuple[str, ...] = members(EngineControl)   # the methods ThreadedEngine wraps, for tests and docs


class MediaThread:
    """Runs the engine's media workers, one thread each (`engine.serve(deliver, worker)`); events go to
    `deliver`, called on the worker thread that produced them (so it must be thread-safe)."""

    def __init__(self, engine: EngineApi, deliver: Callable[[list[Event]], object]) -> None:
        self.engine = engine
        self._threads = [
            threading.Thread(target=engine.serve, args=(deliver, w), name=f"castellan-media-{w}", daemon=True)
            for w in range(engine.worker_count())
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def native_ids(self) -> list[int]:
        """The workers' kernel thread ids (for per-thread CPU in /proc), once started."""
        return [t.native_id for t in self._threads if t.native_id is not None]

    def stop(self, timeout: float = 2.0) -> None:
        self.engine.stop_serving()
        for t in self._threads:
            t.join(timeout)
