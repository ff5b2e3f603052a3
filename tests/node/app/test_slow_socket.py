"""Issue 18, item 4: a participant whose socket cannot keep up is never fed a gapped stream of state messages.
When its outgoing queue fills, the node closes the socket with 4008 (`too_slow`) and detaches the participant
(media goes on); the client resumes and the `joined` snapshot brings it up to date. The closing socket never
detaches the session that resumed meanwhile."""

from __future__ import annotations

import asyncio
import json
import secrets

import pytest
import websockets

from sfu.app.limits import CLOSE_TOO_SLOW, SignallingLimits
from sfu.participant import OUTBOX_SIZE
from tests.harness import running_node
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(120)

MAX_CHATS = 8000  # bound of the flood: far more than the queue plus every socket buffer on the way


def test_a_socket_that_stops_reading_is_closed_as_too_slow_and_its_participant_resumes():
    async def run():
        # the relay budget is opened wide so one talker can fill the listener's queue (the budget is tested apart)
        async with running_node(limits=SignallingLimits(relay_rate=1e9, relay_burst=1e9)) as rn:
            # the listener reads nothing after joining: its client stops reading the TCP socket at once
            slow = await websockets.connect(rn.ws_url, compression=None, max_queue=1)
            await slow.send(json.dumps({"type": "join", "token": rn.token(name="slow")}))
            joined = json.loads(await slow.recv())
            p = rn.node.by_id[joined["participant"]]
            async with websockets.connect(rn.ws_url) as talker:
                await talker.send(json.dumps({"type": "join", "token": rn.token(name="talker")}))
                json.loads(await talker.recv())
                sent = 0
                while p.connected and sent < MAX_CHATS:
                    await talker.send(json.dumps({"type": "chat", "data": secrets.token_hex(8000)}))
                    sent += 1
                detached = await wait_for(lambda: not p.connected, 10)
                assert detached, f"the listener stayed attached after {sent} chats it did not read (queue full)"
                still_in = p.id in rn.node.by_id and not p.left
                # the client resumes on a new socket while the old one still holds unread messages
                fresh = await websockets.connect(rn.ws_url)
                await fresh.send(json.dumps({"type": "resume", "participant": p.id, "secret": joined["resume_secret"]}))
                resumed = json.loads(await asyncio.wait_for(fresh.recv(), 5))
                # now the old client reads: what was sent before the close, then the close
                received = 0
                with pytest.raises(websockets.ConnectionClosed):
                    while True:
                        json.loads(await asyncio.wait_for(slow.recv(), 10))
                        received += 1
                close = (slow.close_code, slow.close_reason)
                assert close == (CLOSE_TOO_SLOW, "too_slow"), f"closed with {close} after {received} of {sent} chats"
                # the old socket's end on the node did not detach the resumed session
                old_gone = await wait_for(lambda: rn.signalling.connections == 2, 10)
                await fresh.send(json.dumps({"type": "ping", "t": 1}))
                pong = json.loads(await asyncio.wait_for(fresh.recv(), 5))
                while pong.get("type") == "chat":  # the talker's last chats, relayed after the resume
                    pong = json.loads(await asyncio.wait_for(fresh.recv(), 5))
                await fresh.close()
                return (sent, detached, still_in, resumed, received, close, old_gone, p.overflows, pong,
                        dict(rn.signalling.refusals))

    sent, detached, still_in, resumed, received, close, old_gone, overflows, pong, refusals = asyncio.run(run())
    print(f"talker sent {sent} chats; the stalled listener had {received} delivered before the 4008 close")
    assert still_in, "the slow participant left the meeting: it should only be detached"
    assert overflows == 1 and refusals["too_slow"] == 1
    assert resumed["type"] == "joined" and resumed["resumed"] is True
    # what was already on its way arrived; the queue (OUTBOX_SIZE messages) was not sent after the close was
    # decided: the client learns it missed something from the close code, and resumes
    assert received + OUTBOX_SIZE <= sent
    assert old_gone
    assert pong == {"type": "pong", "t": 1}
