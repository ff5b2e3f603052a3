"""A meeting of bench peers: every participant publishes audio + video and subscribes to everyone else's.

Each `MeetingPeer` is one participant on one transport (as a browser is): it publishes the bench media with a
scripted RFC 6464 audio level (who speaks when), then renegotiates once to receive every other participant's
audio and video, and counts what arrives per SSRC without decrypting (the RTP header is clear). `Meeting`
drives N of them against a `CastellanTarget` and samples, per interval, who each participant received media
from and how many bytes — what the speaker/last-N test and `python -m loadtests.bench.meeting` read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from loadtests.bench import media as bmedia
from loadtests.bench import sdp as bsdp
from loadtests.bench.peer import Publisher
from loadtests.bench.target import CastellanTarget

SPEAKING = 25  # -25 dBov with the voice bit: speech
SILENT = 110  # -110 dBov: room noise


@dataclass
class Received:
    packets: int = 0
    bytes: int = 0


class MeetingPeer(Publisher):
    """Publishes (mids 0, 1) and receives the others' tracks on further recvonly m-lines."""

    def __init__(self, name: str, media: bmedia.BenchMedia) -> None:
        super().__init__(name, media)
        self.receive: list[bsdp.MLine] = []
        self.source: dict[int, tuple[str, str]] = {}  # SSRC the node sends -> (publisher name, kind)
        self.counts: dict[int, Received] = {}
        self.level_at = lambda _now: SILENT

    def mlines(self) -> list[bsdp.MLine]:
        return super().mlines() + self.receive

    def on_media(self, data: bytes) -> None:
        if len(data) >= 12 and not 192 <= data[1] <= 223:
            ssrc = int.from_bytes(data[8:12], "big")
            c = self.counts.get(ssrc)
            if c is None:
                c = self.counts[ssrc] = Received()
            c.packets += 1
            c.bytes += len(data)
            return
        super().on_media(data)

    def snapshot(self) -> dict[tuple[str, str], Received]:
        """What arrived so far, by (publisher, kind)."""
        out: dict[tuple[str, str], Received] = {}
        for ssrc, c in self.counts.items():
            key = self.source.get(ssrc, ("?", "?"))
            r = out.setdefault(key, Received())
            r.packets += c.packets
            r.bytes += c.bytes
        return out


@dataclass
class Sample:
    """One interval: per viewer, bytes received from each (publisher, kind)."""

    t: float
    bytes: dict[str, dict[tuple[str, str], int]] = field(default_factory=dict)

    def total(self, kind: str) -> int:
        return sum(b for per in self.bytes.values() for (_, k), b in per.items() if k == kind)

    def sources(self, viewer: str, kind: str, min_bytes: int = 1) -> set[str]:
        return {pub for (pub, k), b in self.bytes.get(viewer, {}).items() if k == kind and b >= min_bytes}


class Meeting:
    def __init__(self, target: CastellanTarget, n: int, media: bmedia.BenchMedia) -> None:
        self.target = target
        self.peers = [MeetingPeer(f"p{i}", media) for i in range(n)]
        self.tracks: dict[str, dict[str, str]] = {}  # publisher -> {kind: track id}

    async def join(self) -> None:
        """Everyone publishes, then everyone subscribes to everyone else (one renegotiation each)."""
        for p in self.peers:
            await self.target._join(p)
            transport = await self.target._negotiate(p, {})
            pubs = self.target.last_answer[p.name].get("publications", {})
            self.tracks[p.name] = {("audio" if mid == "0" else "video"): tid for mid, tid in pubs.items()}
            await p.connect(transport)
            p.start_media()
        for p in self.peers:
            subs: dict[str, str] = {}
            owners: dict[str, tuple[str, str]] = {}
            mid = 2
            for other in self.peers:
                if other is p:
                    continue
                for kind in ("audio", "video"):
                    p.receive.append(bsdp.MLine(kind, str(mid), "recvonly"))
                    subs[str(mid)] = self.tracks[other.name][kind]
                    owners[str(mid)] = (other.name, kind)
                    mid += 1
            transport = await self.target._negotiate(p, subs)
            p.source = {s: owners[m] for m, ss in transport.ssrcs.items() if m in owners for s in ss}

    def script(self, speaker_at: Callable[[float], set[str]], t0: float) -> None:
        """Who speaks at loop time t (relative to t0) drives every publisher's audio level."""
        def level(name: str) -> Callable[[float], int]:
            return lambda now: SPEAKING if name in speaker_at(now - t0) else SILENT

        for p in self.peers:
            p.level_at = level(p.name)

    async def sample(self, seconds: float, interval: float = 1.0) -> list[Sample]:
        loop = asyncio.get_running_loop()
        out: list[Sample] = []
        prev = {p.name: p.snapshot() for p in self.peers}
        t_start = loop.time()
        while loop.time() - t_start < seconds:
            await asyncio.sleep(interval)
            s = Sample(loop.time())
            for p in self.peers:
                now = p.snapshot()
                before = prev[p.name]
                s.bytes[p.name] = {k: r.bytes - (before[k].bytes if k in before else 0) for k, r in now.items()}
                prev[p.name] = now
            out.append(s)
        return out

    def speaker_events(self, viewer: str) -> list[tuple[float, str]]:
        return [(t, m["participant"]) for t, m in self.target.events.get(viewer, [])
                if m.get("type") == "active_speaker"]

    def close(self) -> None:
        for p in self.peers:
            p.close()


async def _main(args: argparse.Namespace) -> None:
    media = bmedia.load(seconds=4.0, width=320, height=180, bitrate=300_000)
    results = {}
    for last_n in (0, args.last_n):
        target = CastellanTarget(node_args=["--last-n", str(last_n), "--audio-n", str(args.audio_n if last_n else 0)])
        await target.start()
        meeting = Meeting(target, args.n, media)
        try:
            await meeting.join()
            t0 = asyncio.get_running_loop().time()
            meeting.script(lambda t: {f"p{int(t // args.turn) % args.n}"}, t0)
            samples = await meeting.sample(args.seconds)
            video = [s.total("video") * 8 / 1e6 for s in samples[1:]]
            results[last_n] = video
            print(f"last-N {last_n or 'off'}: forwarded video Mb/s per second "
                  + " ".join(f"{v:.2f}" for v in video), flush=True)
        finally:
            meeting.close()
            await target.stop()
    print(json.dumps({str(k): v for k, v in results.items()}))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="N bench participants, speakers taking turns, with and without last-N")
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--last-n", type=int, default=3)
    ap.add_argument("--audio-n", type=int, default=3)
    ap.add_argument("--turn", type=float, default=3.0, help="seconds each speaker talks")
    ap.add_argument("--seconds", type=float, default=20.0)
    asyncio.run(_main(ap.parse_args()))
