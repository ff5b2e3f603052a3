"""Meetings of bot participants joined through the control plane (POST /v1/join), and their re-join after the
node they were on died. Async: run these on the event loop the bots live on (a `NamespaceLoop` or asyncio.run).

Re-joining is what a client does today when its node disappears: the signalling socket closes, so it asks the
control plane again with the link and password (there is no password-less re-join yet) until it is given a
node other than the dead one, then joins that node afresh (new participant id, new ICE/DTLS, re-publish).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from loadtests import media
from loadtests.bots.netbot import NetBot, join, short_gop_video
from tests.support.waiting import wait_for


@dataclass
class Member:
    name: str
    role: str  # "pub" | "sub"
    meeting: str  # meeting (link) name
    link: dict[str, str]
    bot: NetBot
    node: str
    region: str
    hint: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # every join answer (status, node, error)
    # re-join timings, seconds after the kill
    closed_after: float | None = None
    join_request: float | None = None  # duration of the successful POST /v1/join
    placed_after: float | None = None
    joined_after: float | None = None
    first_frame_after: float | None = None
    attempts: int = 0


AUDIO = False  # video only: every bot runs in the test's one Python process, and audio doubles its packet rate


def video() -> str:
    return str(short_gop_video(gop=8, fps=15, bitrate=300_000))


class LoopLag:
    """How late the bots' event loop runs (all bots share it): the harness's own share of a measured delay."""

    def __init__(self, every: float = 0.05) -> None:
        self.every = every
        self.worst = 0.0
        self.samples: list[float] = []
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(self.every)
            lag = time.monotonic() - t - self.every
            self.samples.append(lag)
            self.worst = max(self.worst, lag)

    def start(self) -> LoopLag:
        self.task = asyncio.get_running_loop().create_task(self._run())
        return self

    def reset(self) -> None:
        self.worst, self.samples = 0.0, []

    def summary(self) -> str:
        if not self.samples:
            return "bots' event loop lag: no samples"
        return (f"bots' event loop lag: median {statistics.median(self.samples) * 1000:.0f} ms, "
                f"worst {self.worst * 1000:.0f} ms")


async def enter_bot(control_url: str, link: dict[str, str], name: str, hint: str) -> tuple[NetBot, dict[str, Any]]:
    """Join through the control plane asking for region `hint` (once: it must admit) and connect to the node: the
    bot and the control plane's answer (its node and processing region)."""
    status, body, _ = await join(control_url, link["link"], name, link["password"], hint=hint)
    assert status == 200, (name, status, body)
    bot = NetBot(body["ws_url"], body["token"], name, read_numbers=False)
    await bot.connect()
    return bot, body


async def enter(control_url: str, meeting: str, link: dict[str, str], name: str, role: str,
                hint: str | None = None, avoid: frozenset[str] = frozenset(), deadline: float | None = None,
                report_dead: bool = False,
                history: list[dict[str, Any]] | None = None) -> Member:
    """Join through the control plane (retrying while the answer is a retryable refusal or a node in `avoid`),
    then join the node, and publish (role "pub") or subscribe to what is there (role "sub")."""
    deadline = deadline or time.monotonic() + 20
    history = history if history is not None else []
    while True:
        asked = time.monotonic()
        try:
            lost = next(iter(avoid)) if report_dead and avoid else None
            status, body, headers = await join(control_url, link["link"], name, link["password"], hint=hint,
                                               unreachable=lost)
        except Exception as e:  # noqa: BLE001 - e.g. the control plane is restarting: retry like a client
            status, body, headers = 0, {"error": type(e).__name__, "message": str(e)}, {}
        history.append({"asked": asked, "t": time.monotonic(), "status": status, "node": body.get("node"),
                        "region": (body.get("processing") or {}).get("region"), "error": body.get("error"),
                        "message": body.get("message"), "retry_after": headers.get("retry-after")})
        if status == 200 and body["node"] not in avoid:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}: no usable placement before the deadline; answers: {history[-3:]}")
        await asyncio.sleep(0.1)
    bot = NetBot(body["ws_url"], body["token"], name, read_numbers=False)
    await bot.connect()
    if role == "pub":
        await bot.publish(video=video(), audio=str(media.audio_file()) if AUDIO else None)
    return Member(name=name, role=role, meeting=meeting, link=link, bot=bot, node=body["node"],
                  region=body["processing"]["region"], hint=hint, history=history)


async def meeting(control_url: str, name: str, link: dict[str, str], subscribers: int = 2,
                  hints: list[str | None] | None = None) -> list[Member]:
    hints = hints or [None] * (subscribers + 1)
    pub = await enter(control_url, name, link, f"{name}-pub", "pub", hint=hints[0])
    subs = [await enter(control_url, name, link, f"{name}-sub{i + 1}", "sub", hint=hints[i + 1])
            for i in range(subscribers)]
    return [pub, *subs]


async def decoding(members: list[Member], frames: int = 20, timeout: float = 20.0) -> bool:
    """True once every subscriber decoded at least `frames` more video frames than it had at the call."""
    start = {id(m): m.bot.video_frames() for m in members if m.role == "sub"}
    return bool(await wait_for(lambda: all(m.bot.video_frames() - start[id(m)] >= frames
                                           for m in members if m.role == "sub"), timeout, 0.05))


async def rejoin(control_url: str, old: Member, dead: frozenset[str], killed_at: float,
                 timeout: float = 20.0, report_dead: bool = False) -> Member:
    """`old`'s node died at `killed_at`: wait for its socket to close, ask the control plane again until it
    names another node, join there and publish/subscribe again. Returns the new Member with the timings."""
    end = time.monotonic() + timeout
    await wait_for(lambda: old.bot.ws_closed_at is not None, timeout, 0.01)
    closed = old.bot.ws_closed_at
    history: list[dict[str, Any]] = []
    new = await enter(control_url, old.meeting, old.link, old.name, old.role, hint=old.hint, avoid=dead,
                      deadline=end, history=history, report_dead=report_dead)
    new.closed_after = None if closed is None else closed - killed_at
    new.placed_after = history[-1]["t"] - killed_at
    new.join_request = history[-1]["t"] - history[-1]["asked"]
    new.joined_after = (new.bot.connected_at or time.monotonic()) - killed_at
    new.attempts = len(history)
    return new


async def wait_first_frames(members: list[Member], killed_at: float, timeout: float = 20.0) -> None:
    """Fills `first_frame_after`: a subscriber's first decoded video frame on its new node; for a publisher,
    the first frame of its new track that any subscriber of its meeting decoded (its media resumed)."""
    subs = [m for m in members if m.role == "sub"]
    await wait_for(lambda: all(m.bot.first_video_at is not None for m in subs), timeout, 0.02)
    for m in subs:
        if m.bot.first_video_at is not None:
            m.first_frame_after = m.bot.first_video_at - killed_at
    for m in members:
        if m.role == "pub":
            seen = [s.first_frame_after for s in subs if s.meeting == m.meeting and s.first_frame_after is not None]
            m.first_frame_after = min(seen) if seen else None


async def close(members: list[Member]) -> None:
    for m in members:
        try:
            await asyncio.wait_for(m.bot.close(), 5)
        except Exception:  # noqa: BLE001 - a bot whose node died may not close cleanly
            pass


def table(members: list[Member]) -> str:
    rows = [f"{'participant':<16} {'node':<10} {'ws closed':>9} {'placed':>7} {'(POST)':>7} {'joined':>7} "
            f"{'1st frame':>9} {'asks':>4}"]
    for m in members:
        def f(x: float | None) -> str:
            return "-" if x is None else f"{x:.2f}"
        rows.append(f"{m.name:<16} {m.node:<10} {f(m.closed_after):>9} {f(m.placed_after):>7} {f(m.join_request):>7} "
                    f"{f(m.joined_after):>7} "
                    f"{f(m.first_frame_after):>9} {m.attempts:>4}")
    done = [m.first_frame_after for m in members if m.first_frame_after is not None]
    if done:
        rows.append(f"kill -> first decoded frame: min {min(done):.2f} s, median {statistics.median(done):.2f} s, "
                    f"max {max(done):.2f} s over {len(done)} participants")
    rows.append("(seconds after the SIGKILL; POST = duration of the successful join request; asks = join requests)")
    return "\n".join(rows)
