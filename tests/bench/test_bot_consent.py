"""The soak's bots keep ICE consent the way a browser does (loadtests/bots/consent.py): an answer that reaches
them late, behind the media queued in their socket while their shared loop ran behind, still counts; a peer that
stops answering loses consent after the timeout, as before.

Two aioice connections on loopback; the answering side's STUN answers are held back LATE seconds (what the
subscribers of the 21:30 soak saw: every answer read after aioice's 0.5 s), then not sent at all."""

from __future__ import annotations

import asyncio
from typing import Any

import aioice.ice
import pytest
from aioice import stun

from loadtests.bots import consent, peer  # noqa: F401 - peer: aioice gathers on loopback only (network rule)

INTERVAL = 0.1  # seconds between consent checks here (5 s in aioice)
LATE = 0.8  # an answer this late "fails" one of aioice's checks (0.5 s, no retransmission)
SIX_FAILURES = 6 * (INTERVAL * 1.2 + 0.5) + 1.0  # long enough for aioice to count six failed checks in a row


async def _pair() -> tuple[aioice.ice.Connection, aioice.ice.Connection]:
    a = aioice.ice.Connection(ice_controlling=True, components=1)
    b = aioice.ice.Connection(ice_controlling=False, components=1)
    for c in (a, b):
        await c.gather_candidates()
    for me, other in ((a, b), (b, a)):
        me.remote_username, me.remote_password = other.local_username, other.local_password
        for cand in other.local_candidates:
            await me.add_remote_candidate(cand)
        await me.add_remote_candidate(None)
    await asyncio.gather(a.connect(), b.connect())
    return a, b


def _answers(conn: aioice.ice.Connection, how: dict[str, Any]) -> None:
    """`conn`'s STUN answers go out `how["late"]` seconds late, or never once `how["mute"]` is set."""
    loop = asyncio.get_running_loop()
    for protocol in conn._protocols:
        send = protocol.send_stun

        def held(message: stun.Message, addr: Any, send: Any = send) -> None:
            if message.message_class != stun.Class.RESPONSE:
                send(message, addr)
            elif not how["mute"]:
                loop.call_later(how["late"], send, message, addr)

        protocol.send_stun = held  # type: ignore[method-assign]


async def _open_after(seconds: float, how: dict[str, Any], then_mute: bool) -> tuple[bool, bool]:
    """(still open after `seconds` of late answers, still open `consent.CONSENT_TIMEOUT` + 1 s after they stop)"""
    a, b = await _pair()
    try:
        _answers(b, how)
        await asyncio.sleep(seconds)
        late_ok = a._query_consent_task is not None and not a._query_consent_task.done()
        if not then_mute:
            return late_ok, late_ok
        how["mute"] = True
        await asyncio.sleep(consent.CONSENT_TIMEOUT + 1.0)
        mute_ok = a._query_consent_task is not None and not a._query_consent_task.done()
        return late_ok, mute_ok
    finally:
        await a.close()
        await b.close()


@pytest.fixture
def quick_consent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", INTERVAL)
    monkeypatch.setattr(consent, "CONSENT_TIMEOUT", 2.0)


def test_late_answers_close_aioices_own_consent(quick_consent: None) -> None:
    """The defect, shown on aioice as it is: six late answers in a row and the bot hangs up."""
    consent.aioice_consent()
    late_ok, _ = asyncio.run(_open_after(SIX_FAILURES, {"late": LATE, "mute": False}, then_mute=False))
    assert not late_ok, "aioice kept consent although every answer came after its 0.5 s: the test shows nothing"


def test_a_bot_keeps_consent_through_late_answers_and_loses_it_without_any(quick_consent: None) -> None:
    consent.browser_like_consent()
    try:
        late_ok, mute_ok = asyncio.run(_open_after(SIX_FAILURES, {"late": LATE, "mute": False}, then_mute=True))
    finally:
        consent.aioice_consent()
    assert late_ok, "the bot hung up although the node answered every check (late)"
    assert not mute_ok, f"no answer for {consent.CONSENT_TIMEOUT + 1:.0f} s and the bot kept consent"
