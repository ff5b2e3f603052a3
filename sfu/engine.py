"""The native engine as the node uses it: on its own media thread (default) or driven by the event loop.

On the media thread, datagrams are received, forwarded and sent without the GIL, so Python work (signalling,
HTTP, timers, RTCP decisions) never delays media, and media never waits for the event loop. Every call Python
makes into the engine then takes the engine's lock, which the media thread holds only while it processes one
receive batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from native import engine as native  # type: ignore[attr-defined]  # the compiled extension

# every engine method Python calls that reads or changes what the media thread uses
LOCKED = (
    "add_peer", "set_peer_address", "clear_peer_address", "set_peer_srtp", "set_peer_extensions", "remove_peer",
    "add_track", "remove_track", "add_subscription", "remove_subscription", "restart_subscription",
    "switch_layer", "subscription_layer", "set_paused", "audio_activity", "subscription_waiting", "send_rtcp",
    "send_raw", "retransmit", "track_stats", "subscription_stats", "counters", "latency_histogram",
    "twcc_arrivals", "twcc_sent", "twcc_state", "send_padding",
    "set_temporal", "set_svc", "subscription_layers", "track_layers",
)


def _locked(name: str) -> Callable[..., Any]:
    base = getattr(native.Engine, name)

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        self._lock()
        try:
            return base(self, *args, **kwargs)
        finally:
            self._unlock()

    method.__name__ = name
    method.__doc__ = base.__doc__
    return method


ThreadedEngine: type = type("ThreadedEngine", (native.Engine,), {name: _locked(name) for name in LOCKED})


class MediaThread:
    """Runs `engine.serve` on a dedicated thread; events go to `deliver` (called on the media thread)."""

    def __init__(self, engine: Any, deliver: Callable[[list[Any]], object]) -> None:
        self.engine = engine
        self._thread = threading.Thread(target=engine.serve, args=(deliver,), name="castellan-media", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self.engine.stop_serving()
        self._thread.join(timeout)
