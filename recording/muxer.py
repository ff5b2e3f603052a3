"""One track's encoded frames into Matroska/WebM with `av`, without decoding or transcoding.

Timestamps come from the frames' RTP timestamps (90 kHz video, 48 kHz Opus), unwrapped across the 32-bit wrap,
relative to the track's first frame, in milliseconds: a gap in what arrived stays a gap in the file's timeline.
A video file starts at a keyframe (frames before the first one cannot be decoded; they are counted, not
written). Bad frames are counted drops, never an exception out of `write`.

Frames do not arrive in timestamp order. Chromium hands a received frame to the encoded transform (where the
recorder's tap sits) as soon as its packet buffer has assembled it — before its reference finder and frame buffer
put frames in decode order. A frame that lost a packet is assembled only when the retransmission (NACK/RTX)
arrives, after the frames that follow it: hundreds of milliseconds later, seconds on a starved machine. So each
track holds every frame REORDER_MS (the recorder's monotonic clock, from the frame's arrival) in a reorder buffer
and muxes in timestamp order; only a frame older than what the file already holds is refused (`out_of_order`).
The window is in arrival time, not media time: a sender's freeze advances the timestamps by seconds at once,
which says nothing about how long a retransmission still takes.

What is muxed reaches the disk within about a second (FLUSH: a Matroska cluster closes every second and every
packet is flushed through the AVIO buffer), and a file cut anywhere plays up to its last whole cluster: a recorder
killed mid-file loses its reorder window and the last cluster, not the file. `roll` starts a new file (a rolling
segment, sink.py): at the first frame that arrived at or after a cutoff — for video, the first such keyframe — the
current file is closed whole and kept in `finished`, and the frame opens the next file, whose timestamps start at 0.
"""

from __future__ import annotations

import fractions
import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av

CLOCK = {"opus": 48000, "vp8": 90000, "vp9": 90000, "h264": 90000, "av1": 90000}
CONTAINER = {"opus": ("webm", ".webm"), "vp8": ("webm", ".webm"), "vp9": ("webm", ".webm"),
             "av1": ("webm", ".webm"), "h264": ("matroska", ".mkv")}
MS = fractions.Fraction(1, 1000)
MAX_FRAME = 4 << 20
REORDER_MS = 5000  # how long after its successors (arrival time) a frame may come and still go in its place
MAX_HELD = 1024  # frames and bytes a track's reorder buffer holds at most, whatever the timestamps say
MAX_HELD_BYTES = 16 << 20
# the muxer's own flushing (libavformat's matroska muxer and AVIO): clusters of at most ~1 s, each written out
# as it closes, so the file on disk trails what was muxed by one cluster at most (a SIGKILL loses no more)
FLUSH = {"flush_packets": "1", "cluster_time_limit": "1000", "cluster_size_limit": str(2 << 20)}


def extension(codec: str) -> str:
    return CONTAINER[codec][1]


@dataclass
class TrackStats:
    written: int = 0
    bytes: int = 0
    before_keyframe: int = 0
    out_of_order: int = 0
    invalid: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    keyframes: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class FinishedFile:
    """A file closed by `roll`: whole and playable on its own. Arrival times on the writer's clock; gaps in ms of
    that file's own timeline."""
    path: Path
    frames: int
    first_arrival: float | None
    last_arrival: float | None
    gaps: tuple[tuple[int, int], ...]


class TrackWriter:
    """Writes one track; `write` returns True when the frame is taken (into the reorder buffer, muxed in timestamp
    order REORDER_MS after its arrival, or at `flush`/`close`), False for a refused frame (counted). `clock`:
    monotonic seconds (injectable for tests)."""

    GAP_MS = 1000  # a silence/freeze longer than this is noted as a gap (timeline.py)

    def __init__(self, path: Path, kind: str, codec: str, width: int = 0, height: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if codec not in CLOCK:
            raise ValueError(f"unsupported codec {codec!r}")
        if kind not in ("audio", "video") or (kind == "audio") != (codec == "opus"):
            raise ValueError(f"{kind} track with codec {codec!r}")
        self.path = path
        self.kind = kind
        self.codec = codec
        self.clock = CLOCK[codec]
        self._size = (width or 640, height or 480)  # a header value only; the decoder reads the bitstream's
        self._open(path)
        self.stats = TrackStats()
        self.finished: list[FinishedFile] = []  # files closed by a roll, for the caller to seal and take away
        self._roll: tuple[float, Path] | None = None
        self._file_frames = 0
        self._idle: Path | None = None  # closed by `idle_roll`: the next file, opened by the next frame it may start
        self._file_first: float | None = None
        self._file_last: float | None = None
        self._base: int | None = None
        self._last_rtp: int | None = None
        self._ext = 0
        self._last_pts = -1
        self._muxed: int | None = None  # the unwrapped timestamp of the last frame muxed (or skipped) in order
        self._held: list[tuple[int, int, float, bytes, bool]] = []  # heap: (unwrapped ts, seq, arrival, frame, key)
        self._held_bytes = 0
        self._seq = 0
        self._now = clock
        self.closed = False

    def _open(self, path: Path) -> None:
        self.path = path
        self.container = av.open(str(path), "w", format=CONTAINER[self.codec][0], options=dict(FLUSH))
        self.stream = self.container.add_stream(self.codec, rate=self.clock if self.kind == "audio" else 30)
        if isinstance(self.stream, av.VideoStream):
            self.stream.width, self.stream.height = self._size
        self.stream.time_base = MS

    def roll(self, cutoff: float, path: Path) -> None:
        """The first frame muxed that arrived at `cutoff` or later (video: the first such keyframe) starts `path`.
        A silent track (`idle`) has nothing to roll: its next file is simply `path`."""
        if self._idle is not None:
            self._idle = path
        else:
            self._roll = (cutoff, path)

    @property
    def rolling(self) -> bool:
        """A roll asked for and not yet done (video: waiting for a keyframe)."""
        return self._roll is not None

    @property
    def held(self) -> int:
        """Frames taken but not yet muxed (waiting in the reorder buffer)."""
        return len(self._held)

    def _unwrap(self, rtp: int) -> int:
        if self._last_rtp is not None:
            delta = (rtp - self._last_rtp) & 0xFFFFFFFF
            if delta >= 0x80000000:
                delta -= 1 << 32
            self._ext += delta
        else:
            self._ext = rtp
        self._last_rtp = rtp
        return self._ext

    def write(self, data: bytes, rtp_timestamp: int, keyframe: bool) -> bool:
        if self.closed or not data or len(data) > MAX_FRAME or not 0 <= rtp_timestamp <= 0xFFFFFFFF:
            self.stats.invalid += 1
            return False
        now = self._now()
        self._release_due(now)  # first what is due, then judge the newcomer against the file
        ext = self._unwrap(rtp_timestamp)
        if self._muxed is not None and (ext < self._muxed or (ext == self._muxed and self.kind == "audio")):
            self.stats.out_of_order += 1  # later than the reorder window: its successors are in the file already
            return False
        heapq.heappush(self._held, (ext, self._seq, now, data, keyframe))
        self._seq += 1
        self._held_bytes += len(data)
        while len(self._held) > MAX_HELD or self._held_bytes > MAX_HELD_BYTES:
            self._release()
        return True

    def _release_due(self, now: float) -> None:
        """Mux, in timestamp order, the oldest frames that have waited REORDER_MS: a frame held for less stays, and
        so do the newer ones behind it (they wait for it a little longer, never the other way round)."""
        while self._held and (now - self._held[0][2]) * 1000 >= REORDER_MS:
            self._release()

    def flush(self) -> None:
        """Mux every held frame, in timestamp order (the end of the recording)."""
        while self._held:
            self._release()

    def _release(self) -> None:
        ext, _, arrival, data, keyframe = heapq.heappop(self._held)
        self._held_bytes -= len(data)
        if self._muxed is not None and (ext < self._muxed or (ext == self._muxed and self.kind == "audio")):
            self.stats.out_of_order += 1  # a duplicate audio timestamp, or pushed out by the caps above
            return
        self._muxed = ext
        if self._idle is not None:  # the track fell silent through a roll: its next file starts here
            if self.kind == "video" and not keyframe:
                self.stats.before_keyframe += 1
                return
            path, self._idle = self._idle, None
            self._base, self._last_pts = ext, -1
            self._open(path)
        if self.kind == "video" and self.stats.written == 0 and not keyframe:
            self.stats.before_keyframe += 1
            return
        if self._roll is not None and arrival >= self._roll[0] and (keyframe or self.kind == "audio") \
                and self._file_frames:
            self._next_file(self._roll[1], ext)
        if self._base is None:
            self._base = ext
        pts = (ext - self._base) * 1000 // self.clock
        if pts <= self._last_pts:
            if self.kind == "audio" or pts < self._last_pts:
                self.stats.out_of_order += 1
                return
            pts = self._last_pts + 1  # two video frames in one ms (never: 90 kHz at <= 60 fps): keep them apart
        if self._last_pts >= 0 and pts - self._last_pts > self.GAP_MS:
            self.stats.gaps.append((self._last_pts, pts))
        pkt = av.Packet(data)
        pkt.stream = self.stream
        pkt.time_base = MS
        pkt.pts = pkt.dts = pts
        pkt.is_keyframe = keyframe or self.kind == "audio"
        try:
            self.container.mux(pkt)
        except (av.FFmpegError, ValueError):
            self.stats.invalid += 1
            return
        self._last_pts = pts
        self._file_frames += 1
        self._file_first = arrival if self._file_first is None else self._file_first
        self._file_last = arrival
        self.stats.written += 1
        self.stats.bytes += len(data)
        self.stats.keyframes += int(keyframe)
        if self.stats.first_ms is None:
            self.stats.first_ms = pts
        self.stats.last_ms = pts

    def _next_file(self, path: Path, ext: int) -> None:
        self._close_file()
        self._base, self._last_pts = ext, -1  # each file's timeline starts at 0
        self._open(path)

    @property
    def idle(self) -> bool:
        """Closed by `idle_roll`: no file open until the track's next frame (video: keyframe)."""
        return self._idle is not None

    @property
    def waiting_keyframe(self) -> bool:
        """A video track closed by `idle_roll` whose next file still waits for its first keyframe."""
        return self._idle is not None and self.kind == "video"

    @property
    def open_file(self) -> bool:
        """The current file holds frames (it is not a file already handed over in `finished`)."""
        return self._idle is None and self._file_frames > 0

    def idle_roll(self, now: float) -> None:
        """A roll asked for while the track is silent (nothing held once what is due is muxed; a participant who
        left, a camera turned off): its current file closes now rather than waiting for a frame that may never
        come, and its next frame (video: keyframe) opens the next file."""
        self._release_due(now)
        if self._roll is None or self._held or not self._file_frames:
            return
        path = self._roll[1]
        self._close_file()
        self._idle = path

    def _close_file(self) -> None:
        self.container.close()
        self.finished.append(FinishedFile(self.path, self._file_frames, self._file_first, self._file_last,
                                          tuple(self.stats.gaps)))
        self.stats.gaps.clear()
        self._roll = None
        self._file_frames, self._file_first, self._file_last = 0, None, None

    def close(self) -> None:
        if not self.closed:
            self.flush()  # may open the next file of a silent track (`idle_roll`)
            self.closed = True
            if self._idle is None:  # else its last file was closed and handed over already
                self.container.close()
