"""The recorder process's loopback end: the recorder page's E2EE worker (signalling/client/recorder-tap.js) sends
each decrypted *encoded* frame and each timeline event here; frames are remuxed per track (muxer.py), events go
to timeline.jsonl and chat.jsonl (timeline.py). Binds 127.0.0.1 only; the WebSocket path must carry the
recording's random token, so another local process cannot feed it. Anything malformed is a counted drop.

`stats()` keeps two counts apart. `drops`: what the sink refused or could not write — malformed input, a frame
that came later than the track's reorder window (muxer.py), a frame the muxer rejected; a complete recording has
none. `skipped`: what is not part of the recording by definition — video frames before a track's first keyframe
(nothing can decode them: the recording of a track starts at a keyframe) and anything after the recording was
stopped (`bye`).

A restarted recorder writes into the same working directory: each track continues in a new part file (the
finished parts stay playable), and the timeline notes the gap.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import struct
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from .muxer import CLOCK, TrackWriter, extension
from .timeline import Timeline

MAX_HEADER = 1024
MAX_TRACKS = 256
MAX_MESSAGE = 8 << 20
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,96}$")


@dataclass(frozen=True)
class TrackFile:
    path: Path
    participant: str
    track: str
    kind: str
    codec: str


class Sink:
    """Receives one recording into `workdir`. Thread-safe only through the server's single event loop."""

    def __init__(self, workdir: Path, clock_ms: Any = None, reorder_clock: Any = None) -> None:
        import time

        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        restarted = (workdir / "timeline.jsonl").exists()
        self.timeline = Timeline(workdir / "timeline.jsonl")
        self.chat = Timeline(workdir / "chat.jsonl")
        self.now_ms = clock_ms or (lambda: time.time() * 1000)
        self.reorder_clock = reorder_clock or time.monotonic  # the writers' reorder buffers (muxer.py)
        self.writers: dict[tuple[str, str], TrackWriter] = {}
        self.files: list[TrackFile] = []
        self.drops: Counter[str] = Counter()  # refused at the sink's door; the writers count theirs (stats())
        self.after_stop = 0
        self.frames = 0
        self.first_frame_ms: int | None = None  # when this recorder's media began and last arrived: the edges of
        self.last_frame_ms: int | None = None   # a gap when a recorder dies and another continues (archive.py)
        self.ended = False
        if restarted:
            self.timeline.add("gap", self.now_ms(), {"reason": "recorder restarted"})

    def _part(self, participant: str, track: str, kind: str, codec: str) -> Path:
        base = f"{participant}-{track}-{kind}"
        n = 1
        while (self.workdir / f"{base}.part{n}{extension(codec)}").exists():
            n += 1
        return self.workdir / f"{base}.part{n}{extension(codec)}"

    def frame(self, msg: bytes) -> bool:
        if self.ended:
            self.after_stop += 1
            return False
        if len(msg) < 4:
            self.drops["short"] += 1
            return False
        (n,) = struct.unpack(">I", msg[:4])
        if n > MAX_HEADER or len(msg) < 4 + n:
            self.drops["bad_header"] += 1
            return False
        try:
            h = json.loads(msg[4:4 + n])
            p, t, kind, codec, ts, key = h["p"], h["t"], h["k"], h["c"], h["ts"], h["key"]
            w, hh = int(h.get("w", 0)), int(h.get("h", 0))
        except (ValueError, KeyError, TypeError):
            self.drops["bad_header"] += 1
            return False
        if not (isinstance(p, str) and _ID.match(p) and isinstance(t, str) and _ID.match(t) and codec in CLOCK
                and kind in ("audio", "video") and isinstance(ts, int) and isinstance(key, bool)
                and 0 <= w <= 16384 and 0 <= hh <= 16384):
            self.drops["bad_header"] += 1
            return False
        w_ = self.writers.get((p, t))
        if w_ is None:
            if len(self.writers) >= MAX_TRACKS:
                self.drops["too_many_tracks"] += 1
                return False
            try:
                w_ = TrackWriter(self._part(p, t, kind, codec), kind, codec, w, hh, self.reorder_clock)
            except ValueError:
                self.drops["bad_track"] += 1
                return False
            self.writers[(p, t)] = w_
            self.files.append(TrackFile(w_.path, p, t, kind, codec))
            self.timeline.add("track", self.now_ms(), {"participant": p, "track": t, "media": kind, "codec": codec,
                                                       "file": w_.path.name})
        if w_.kind != kind or w_.codec != codec:
            self.drops["track_changed"] += 1
            return False
        if not w_.write(msg[4 + n:], ts, key):
            return False  # counted by the writer (out_of_order, invalid): stats() reports them as drops
        self.frames += 1
        self.last_frame_ms = int(self.now_ms())
        if self.first_frame_ms is None:
            self.first_frame_ms = self.last_frame_ms
        return True

    def event(self, text: str) -> bool:
        if self.ended:  # the timeline is closed; a second bye (the page's pagehide) is no news either
            self.after_stop += 1
            return False
        try:
            m = json.loads(text)
        except ValueError:
            self.drops["bad_event"] += 1
            return False
        if not isinstance(m, dict):
            self.drops["bad_event"] += 1
            return False
        if m.get("type") == "bye":
            self.close()
            return True
        if m.get("type") != "event" or not isinstance(m.get("kind"), str):
            self.drops["bad_event"] += 1
            return False
        kind = m["kind"]
        given = m.get("t")
        t = float(given) if isinstance(given, int) and not isinstance(given, bool) else float(self.now_ms())
        fields = {k: v for k, v in m.items() if k not in ("type", "kind", "t")}
        ok = (self.chat if kind == "chat" else self.timeline).add(kind, t, fields)
        if not ok:
            self.drops["bad_event"] += 1
        return ok

    def close(self) -> list[TrackFile]:
        if not self.ended:
            self.ended = True
            for w in self.writers.values():
                w.flush()  # the reorder buffers' last frames, before the gaps are read
                if w.stats.gaps:
                    for a, b in w.stats.gaps:
                        self.timeline.add("gap", self.now_ms(), {"file": w.path.name, "from_ms": a, "to_ms": b})
                w.close()
            self.timeline.add("recorder_stop", self.now_ms(), {"frames": self.frames,
                                                               "dropped": sum(self.all_drops().values())})
            self.timeline.close()
            self.chat.close()
        return self.files

    def all_drops(self) -> Counter[str]:
        """The sink's own drops and the writers' refusals: frames that belong to the recording but are not in it."""
        out = Counter(self.drops)
        for w in self.writers.values():
            out["out_of_order"] += w.stats.out_of_order
            out["invalid"] += w.stats.invalid
        return +out  # without the zeros

    def skipped(self) -> Counter[str]:
        """Frames and events that are not part of the recording by definition (see the module's docstring)."""
        out = Counter(before_keyframe=sum(w.stats.before_keyframe for w in self.writers.values()),
                      after_stop=self.after_stop)
        return +out

    def stats(self) -> dict[str, Any]:
        """`frames`: taken into the recording (a track's `written` counts those muxed so far: the rest wait in its
        reorder buffer, `held`, until newer media or the end of the recording)."""
        return {"frames": self.frames, "first_frame_ms": self.first_frame_ms, "last_frame_ms": self.last_frame_ms,
                "drops": dict(self.all_drops()), "skipped": dict(self.skipped()),
                "tracks": {f"{p}/{t}": {"file": w.path.name, "written": w.stats.written, "kind": w.kind,
                                        "before_keyframe": w.stats.before_keyframe, "invalid": w.stats.invalid,
                                        "out_of_order": w.stats.out_of_order, "held": w.held, "gaps": w.stats.gaps}
                           for (p, t), w in self.writers.items()}}


class SinkServer:
    """The sink on ws://127.0.0.1:PORT/TOKEN, served from its own thread (the recorder process's main thread
    drives the browser). One connection at a time: a second page is refused while one records."""

    def __init__(self, sink: Sink, token: str, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in ("127.0.0.1", "::1"):
            raise ValueError("the recorder sink binds loopback only")
        self.sink = sink
        self.token = token
        self.host = host
        self.port = port
        self.refused = 0
        self._busy = False
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=self._run, name="recorder-sink", daemon=True)

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/{self.token}"

    async def _handler(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request else ""
        if not hmac.compare_digest(path.encode(), f"/{self.token}".encode()) or self._busy:
            self.refused += 1
            await ws.close(4401, "refused")
            return
        self._busy = True
        try:
            async for msg in ws:
                if isinstance(msg, bytes):
                    self.sink.frame(msg)
                else:
                    self.sink.event(msg)
        except Exception:  # noqa: BLE001 - a broken connection ends this page's session, not the process
            self.sink.drops["connection"] += 1
        finally:
            self._busy = False

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            async with serve(self._handler, self.host, self.port, max_size=MAX_MESSAGE, max_queue=64) as server:
                self.port = server.sockets[0].getsockname()[1] if server.sockets else self.port
                self._stop = self._loop.create_future()
                self._ready.set()
                await self._stop

        self._loop.run_until_complete(main())

    def start(self) -> SinkServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("recorder sink did not start")
        return self

    def call(self, fn: Any) -> Any:
        """Run `fn()` on the sink's loop (the sink is not shared across threads) and return its result."""
        async def run() -> Any:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def stop(self) -> list[TrackFile]:
        files: list[TrackFile] = self.call(self.sink.close)
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)
        return files


def main(argv: list[str] | None = None) -> int:
    """`python -m recording.sink --workdir DIR [--port N]`: the recorder process's sink alone (the token is read
    from CASTELLAN_RECORDER_TOKEN, never from argv: argv is visible to every local user). Prints its URL without
    the token, runs until stdin closes, then prints its stats as JSON."""
    import argparse
    import os
    import sys

    ap = argparse.ArgumentParser(prog="python -m recording.sink")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    token = os.environ.get("CASTELLAN_RECORDER_TOKEN", "")
    if len(token) < 16:
        print("CASTELLAN_RECORDER_TOKEN must hold a random token of at least 16 characters", file=sys.stderr)
        return 2
    server = SinkServer(Sink(Path(args.workdir)), token, port=args.port).start()
    print(f"listening ws://127.0.0.1:{server.port}/", flush=True)
    sys.stdin.read()
    stats = server.call(server.sink.stats)
    server.stop()
    print(json.dumps(stats), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
