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

Rolling segments (`segment_s`, docs/recording.md "Segments"): every `segment_s` seconds the sink cuts the
recording — each track's next file starts at the first frame that arrived after the cut (video: at a keyframe,
which the sink asks the page for at once: a `{"type": "keyframe", "p", "t"}` text message back on the socket).
Once every track has rolled, the segment is complete: its closed track files and the timeline and chat lines so far
(`timeline.segNNNN.jsonl`, `chat.segNNNN.jsonl`) wait in `ready` for the recorder to seal them into the vault
(recording/pool/job.py). A recorder killed mid-part loses only what came after its last sealed segment.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import json
import re
import struct
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
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


@dataclass
class Segment:
    """A complete segment of this recorder's part: closed track files and the timeline and chat slices, from the
    previous cut (or the first frame) to this one (the sink's clock, ms since the epoch)."""
    number: int
    from_ms: int
    to_ms: int
    files: list[TrackFile]
    texts: list[tuple[Path, str]] = field(default_factory=list)  # (slice, "timeline" | "chat")


class Sink:
    """Receives one recording into `workdir`. Thread-safe only through the server's single event loop."""

    def __init__(self, workdir: Path, clock_ms: Any = None, reorder_clock: Any = None,
                 segment_s: float | None = None) -> None:
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
        self.segment_s = segment_s
        self.segment = 1  # the segment new files belong to
        self.ready: list[Segment] = []  # complete, waiting to be sealed (`take_ready`)
        self.on_keyframe: Any = None  # (participant, track) -> None: asks the page for a keyframe (SinkServer)
        self._parts: dict[tuple[str, str], str] = {}  # track -> its file's stem in this run ("…partN")
        self._seg_from_ms: int | None = None
        self._seg_start: float | None = None  # the reorder clock at the last cut (or the first frame)
        self._cut: tuple[int, int] | None = None  # (segment being closed, its end ms) while tracks still roll
        self._rolling: set[tuple[str, str]] = set()
        self._closed: list[TrackFile] = []  # rolled files of the segment being closed
        self._asked: dict[tuple[str, str], float] = {}  # when a silent video track's keyframe was last asked for
        if restarted:
            self.timeline.add("gap", self.now_ms(), {"reason": "recorder restarted"})

    def _part(self, participant: str, track: str, kind: str, codec: str) -> Path:
        base = f"{participant}-{track}-{kind}"
        n = 1
        while (self.workdir / f"{base}.part{n}{extension(codec)}").exists() or \
                any(self.workdir.glob(f"{base}.part{n}.seg*")):
            n += 1
        self._parts[(participant, track)] = f"{base}.part{n}"
        return self._file(participant, track, codec)

    def _file(self, participant: str, track: str, codec: str) -> Path:
        stem = self._parts[(participant, track)]
        if self.segment_s is None:
            return self.workdir / f"{stem}{extension(codec)}"
        return self.workdir / f"{stem}.seg{self.segment:04d}{extension(codec)}"

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
        taken = w_.write(msg[4 + n:], ts, key)
        if w_.finished:
            self._rolled((p, t), w_)
        if self._cut is not None:  # a silent track must not hold the segment open
            for k in list(self._rolling):
                self.writers[k].idle_roll(self.reorder_clock())
                if self.writers[k].finished:
                    self._rolled(k, self.writers[k])
        if w_.waiting_keyframe and self.on_keyframe is not None and self.reorder_clock() - self._asked.get((p, t), -1e9) >= 1:
            self._asked[(p, t)] = self.reorder_clock()  # a silent camera back: its next file needs a keyframe
            self.on_keyframe(p, t)
        if not taken:
            return False  # counted by the writer (out_of_order, invalid): stats() reports them as drops
        self.frames += 1
        self.last_frame_ms = int(self.now_ms())
        if self.first_frame_ms is None:
            self.first_frame_ms = self._seg_from_ms = self.last_frame_ms
            self._seg_start = self.reorder_clock()
        if self.segment_s is not None and self._cut is None and self._seg_start is not None \
                and self.reorder_clock() - self._seg_start >= self.segment_s:
            self._begin_cut()
        return True

    # ------------------------------------------------------------------------------------------------ segments

    def _begin_cut(self) -> None:
        """Every track's next file starts at the first frame that arrives from now on (video: at a keyframe)."""
        now = self.reorder_clock()
        self._cut = (self.segment, int(self.now_ms()))
        self._seg_start = now
        self.segment += 1
        self._rolling = {key for key, w in self.writers.items() if not w.closed and not w.idle}
        for (p, t), w in self.writers.items():
            w.roll(now, self._file(p, t, w.codec))  # a silent track's next file, when it speaks again, is this one's
            if (p, t) in self._rolling and w.kind == "video" and self.on_keyframe is not None:
                self.on_keyframe(p, t)
        self._complete()

    def _rolled(self, key: tuple[str, str], w: TrackWriter) -> None:
        for f in w.finished:
            self._closed.append(TrackFile(f.path, key[0], key[1], w.kind, w.codec))
            for a, b in f.gaps:
                self.timeline.add("gap", self.now_ms(), {"file": f.path.name, "from_ms": a, "to_ms": b})
        w.finished.clear()
        self._rolling.discard(key)
        self._complete()

    def _slices(self, number: int) -> list[tuple[Path, str]]:
        """The timeline and chat so far become this segment's slices; both go on in fresh files."""
        out = []
        for name, kind in (("timeline", "timeline"), ("chat", "chat")):
            log: Timeline = getattr(self, name)
            log.close()
            sliced = self.workdir / f"{name}.seg{number:04d}.jsonl"
            log.path.rename(sliced)
            out.append((sliced, kind))
            setattr(self, name, Timeline(self.workdir / f"{name}.jsonl"))
        return out

    def _complete(self) -> None:
        if self._cut is None or self._rolling:
            return
        number, to_ms = self._cut
        self.ready.append(Segment(number, self._seg_from_ms or to_ms, to_ms, self._closed, self._slices(number)))
        self._closed, self._cut, self._seg_from_ms = [], None, to_ms

    def take_ready(self) -> list[Segment]:
        """The complete segments, handed over once (the caller seals them and removes their files)."""
        out, self.ready = self.ready, []
        return out

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
        """Closes every file. Without segments: every track file (the caller seals them with the timeline and
        chat). With segments: [] — the rest is the last segment, in `ready` (its track files and slices)."""
        if not self.ended:
            self.ended = True
            for key, w in self.writers.items():
                w.flush()  # the reorder buffers' last frames, before the gaps are read
                if w.finished:
                    self._rolled(key, w)
                if w.stats.gaps:
                    for a, b in w.stats.gaps:
                        self.timeline.add("gap", self.now_ms(), {"file": w.path.name, "from_ms": a, "to_ms": b})
                w.close()
            self.timeline.add("recorder_stop", self.now_ms(), {"frames": self.frames,
                                                               "dropped": sum(self.all_drops().values())})
            if self.segment_s is not None:
                number = self._cut[0] if self._cut is not None else self.segment
                rest = self._closed + [TrackFile(w.path, p, t, w.kind, w.codec)
                                       for (p, t), w in self.writers.items() if w.open_file]
                end = self.last_frame_ms if self.last_frame_ms is not None else int(self.now_ms())
                start = self._seg_from_ms if self._seg_from_ms is not None else end
                self.ready.append(Segment(number, start, max(start, end), rest, self._slices(number)))
                self._closed, self._cut = [], None
            self.timeline.close()
            self.chat.close()
            if self.segment_s is not None:  # the fresh logs _slices opened: nothing more goes in them
                self.timeline.path.unlink(missing_ok=True)
                self.chat.path.unlink(missing_ok=True)
        return [] if self.segment_s is not None else self.files

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

    def __init__(self, sink: Sink, token: str, host: str = "127.0.0.1", port: int = 0,
                 attest: Callable[[bytes], str] | None = None) -> None:
        if host not in ("127.0.0.1", "::1"):
            raise ValueError("the recorder sink binds loopback only")
        self.sink = sink
        self.token = token
        # the pool's attestation of its page's KeyPackage leaf key (recording/pool/attestation.py), bound by the
        # pool to its job's tenant, room and participant; asked on /TOKEN/attest, one request per connection
        self.attest = attest
        self.attested = 0
        self.attest_refused = 0
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

    async def _attestation(self, ws: ServerConnection) -> None:
        """One `{type: "attest", key}` (the leaf signature key, base64url) answered `{type: "attestation",
        attestation}`; anything else, or no recorder key, is answered `{type: "refused"}` and counted."""
        answer: dict[str, str] = {"type": "refused"}
        try:
            m = json.loads(await asyncio.wait_for(ws.recv(), 10))
            key = m.get("key") if isinstance(m, dict) and m.get("type") == "attest" else None
            raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)) if isinstance(key, str) and len(key) == 43 else b""
            if self.attest is not None and len(raw) == 32:
                answer = {"type": "attestation", "attestation": self.attest(raw)}
        except Exception:  # noqa: BLE001 - not JSON, not base64url, too slow, a broken connection: nothing attested
            pass
        if answer["type"] == "attestation":
            self.attested += 1
        else:
            self.attest_refused += 1
        with contextlib.suppress(Exception):
            await ws.send(json.dumps(answer))
            await ws.close()

    async def _handler(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request else ""
        if hmac.compare_digest(path.encode(), f"/{self.token}/attest".encode()):
            await self._attestation(ws)
            return
        if not hmac.compare_digest(path.encode(), f"/{self.token}".encode()) or self._busy:
            self.refused += 1
            await ws.close(4401, "refused")
            return
        self._busy = True
        sent: set[asyncio.Task[None]] = set()

        def keyframe(p: str, t: str) -> None:
            task = asyncio.ensure_future(ws.send(json.dumps({"type": "keyframe", "p": p, "t": t})))
            sent.add(task)
            task.add_done_callback(sent.discard)

        self.sink.on_keyframe = keyframe
        try:
            async for msg in ws:
                if isinstance(msg, bytes):
                    self.sink.frame(msg)
                else:
                    self.sink.event(msg)
        except Exception:  # noqa: BLE001 - a broken connection ends this page's session, not the process
            self.sink.drops["connection"] += 1
        finally:
            self.sink.on_keyframe = None
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
