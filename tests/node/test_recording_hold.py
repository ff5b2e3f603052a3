"""Compliance recording, "required", enforced by the node (sfu/recording.py; docs/recording.md): in a meeting whose
signed policy is `required`, nothing a publisher sends is forwarded until a participant whose *credential* says
role `recorder` is in the room; when that recorder leaves, forwarding stops again.

Real parts: a node built by the product's factory on loopback, aiortc bots publishing pre-encoded VP8 + Opus and
decoding what they receive, join tokens signed by the control plane's issuer (the only way a policy or the recorder
role reaches a node). The hostile participant names itself like the tenant's recorder and claims the role in its
own messages; a recorder credential for another room or tenant, or one already used, is tried too.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import urllib.request
from typing import Any

import pytest
import websockets

from loadtests import media
from loadtests.bots.peer import Bot
from tests.harness import RunningNode, running_node
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(150)

QUIET = 3.0  # seconds a held subscriber is watched for frames that must not come (publishers send 30 fps)
SECONDS = 40.0  # the publishers' files outlast the whole story (a file that ends would look like a hold)


def credential(rn: RunningNode, *, name: str, policy: str = "required", role: str = "participant",
               room: str = "board", tenant: str = "acme") -> str:
    return rn.issuer.mint(tenant=tenant, room=room, participant="p-" + secrets.token_hex(4),
                          region=rn.node.config.region, node=rn.node.config.node_id, name=name,
                          recording=policy, role=role)


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - the test's own node
        return r.read().decode()


async def held_drops(rn: RunningNode) -> int:
    """The node's own count (its /metrics, scraped off the event loop the node runs on)."""
    text = await asyncio.to_thread(_scrape, rn.http_url + "/metrics")
    m = re.search(r'castellan_dropped_packets_total\{[^}]*reason="recording_held"[^}]*\} (\S+)', text)
    return int(float(m.group(1))) if m else 0


async def _more(rn: RunningNode, n: int) -> bool:
    return await held_drops(rn) > n


def frames(bot: Bot) -> int:
    return sum(r.frames for r in bot.video())


def recording_messages(bot: Bot) -> list[dict[str, Any]]:
    return [m for m in bot.messages if m.get("type") == "recording"]


async def hostile_publisher(rn: RunningNode) -> Bot:
    """Calls itself by the tenant's recorder name and says it is the recorder in every way a message can: in its
    join message, in a message of its own, in a chat."""
    bot = Bot(rn.ws_url, credential(rn, name="ACME archive", policy="off"), "impostor")
    bot.ws = await websockets.connect(rn.ws_url)
    await bot.ws.send(json.dumps({"type": "join", "token": bot.token, "role": "recorder", "recorder": True,
                                  "recording": "off", "name": "ACME archive"}))
    bot.joined = json.loads(await bot.ws.recv())
    assert bot.joined["type"] == "joined", bot.joined
    await bot.ws.send(json.dumps({"type": "recorder", "recorder": True, "role": "recorder"}))
    refused = json.loads(await bot.ws.recv())
    assert refused["type"] == "error", refused
    await bot.ws.close()
    # the same identity's media: a fresh session with the same kind of credential, publishing
    bot = Bot(rn.ws_url, credential(rn, name="ACME archive", policy="off"), "impostor")
    await bot.connect()
    await bot.send({"type": "chat", "data": '{"role":"recorder","recorder":true}'})
    await bot.publish(video=str(media.video_file("vp8", seconds=SECONDS)), audio=str(media.audio_file(seconds=SECONDS)))
    return bot


def test_required_meeting_forwards_nothing_until_the_credentialed_recorder_is_in_and_stops_when_it_leaves():
    async def run() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with running_node() as rn:
            viewer = Bot(rn.ws_url, credential(rn, name="Bob"), "Bob")
            joined = await viewer.connect()
            out["joined_recording"] = joined["recording"]
            pub = await hostile_publisher(rn)
            await viewer.negotiate()
            # the impostor publishes for real: the node receives its packets and holds every one
            out["held_while_named_archive"] = await wait_for(lambda: _more(rn, 200), 20)
            await asyncio.sleep(QUIET)
            out["frames_before_recorder"] = frames(viewer)
            out["audio_before_recorder"] = sum(r.frames for r in viewer.audio())
            out["roster_impostor"] = list(viewer.participants.values())  # snapshot + presence changes

            # a recorder credential for another room, then for another tenant: they join *their* meeting only
            other_room = Bot(rn.ws_url, credential(rn, name="ACME archive", role="recorder", room="other"), "r1")
            other_tenant = Bot(rn.ws_url, credential(rn, name="ACME archive", role="recorder", tenant="evil"), "r2")
            await other_room.connect()
            await other_tenant.connect()
            await asyncio.sleep(QUIET)
            out["frames_with_foreign_recorders"] = frames(viewer)
            # a held room asks its publishers for nothing (no keyframe is forwarded to start from)
            out["keyframe_requests_held"] = rn.node.counts["keyframe_requests"]

            # the real recorder: media flows to Bob (and to the recorder)
            rec_token = credential(rn, name="ACME archive", role="recorder")
            recorder = Bot(rn.ws_url, rec_token, "recorder")
            rec_joined = await recorder.connect()
            out["recorder_sees_open"] = rec_joined["recording"]
            await recorder.negotiate()
            out["decoded_after_recorder"] = await wait_for(lambda: frames(viewer) > 30, 30)
            out["recorder_decoded"] = await wait_for(lambda: frames(recorder) > 30, 30)
            out["release_message"] = recording_messages(viewer)[-1]
            out["keyframe_requests_released"] = rn.node.counts["keyframe_requests"]
            assert await wait_for(lambda: rec_joined["participant"] in viewer.participants, 5)
            out["roster_recorder"] = viewer.participants[rec_joined["participant"]]

            # the same credential again: single use
            again = Bot(rn.ws_url, rec_token, "replay")
            try:
                await again.connect()
                out["replay"] = "joined"
            except RuntimeError as e:
                out["replay"] = str(e)
            await again.close()

            # the recorder goes: held again
            await recorder.send({"type": "leave"})
            out["held_again"] = await wait_for(lambda: recording_messages(viewer)[-1]["held"], 10)
            await asyncio.sleep(1.0)  # what was already on the wire lands
            settled = frames(viewer)
            held_then = await held_drops(rn)
            await asyncio.sleep(QUIET)
            out["frames_after_leave"] = (settled, frames(viewer))
            out["held_grew_after_leave"] = await held_drops(rn) - held_then
            for b in (viewer, pub, other_room, other_tenant, recorder):
                await b.close()
        return out

    out = asyncio.run(run())
    assert out["joined_recording"] == {"policy": "required", "held": True, "active": True, "recorders": [],
                                       "state": "starting"}
    assert out["held_while_named_archive"], "the publisher's packets never reached the node"
    assert out["frames_before_recorder"] == 0 and out["audio_before_recorder"] == 0, out
    assert all(not p.get("recorder") for p in out["roster_impostor"]), out["roster_impostor"]
    assert out["frames_with_foreign_recorders"] == 0, "a recorder of another meeting unlocked this one"
    assert out["recorder_sees_open"]["held"] is False and len(out["recorder_sees_open"]["recorders"]) == 1
    assert out["decoded_after_recorder"] and out["recorder_decoded"], "media did not start with the recorder in"
    assert out["release_message"]["held"] is False
    assert out["keyframe_requests_held"] == 0 and out["keyframe_requests_released"] > 0, out
    assert out["roster_recorder"]["recorder"] is True and out["roster_recorder"]["name"] == "ACME archive"
    assert "token_replayed" in out["replay"], out["replay"]
    assert out["held_again"]
    settled, later = out["frames_after_leave"]
    assert later == settled, f"media still forwarded after the recorder left: {settled} -> {later} frames"
    assert out["held_grew_after_leave"] > 100


def test_a_participant_credential_saying_off_does_not_loosen_a_required_room_and_allowed_is_never_held():
    async def run() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with running_node() as rn:
            viewer = Bot(rn.ws_url, credential(rn, name="Bob"), "Bob")  # required
            await viewer.connect()
            pub = Bot(rn.ws_url, credential(rn, name="Alice", policy="off"), "Alice")
            joined = await pub.connect()
            out["alice_told"] = joined["recording"]
            await pub.publish(video=str(media.video_file("vp8", seconds=SECONDS)))
            await viewer.negotiate()
            await wait_for(lambda: _more(rn, 100), 20)
            await asyncio.sleep(QUIET)
            out["frames"] = frames(viewer)
            # a meeting under "allowed" (the host records if it wants) flows without a recorder
            a_viewer = Bot(rn.ws_url, credential(rn, name="Carol", policy="allowed", room="standup"), "Carol")
            await a_viewer.connect()
            a_pub = Bot(rn.ws_url, credential(rn, name="Dan", policy="allowed", room="standup"), "Dan")
            await a_pub.connect()
            await a_pub.publish(video=str(media.video_file("vp8", seconds=SECONDS)))
            await a_viewer.negotiate()
            out["allowed_flows"] = await wait_for(lambda: frames(a_viewer) > 30, 30)
            for b in (viewer, pub, a_viewer, a_pub):
                await b.close()
        return out

    out = asyncio.run(run())
    assert out["alice_told"]["policy"] == "required" and out["alice_told"]["held"] is True
    assert out["frames"] == 0
    assert out["allowed_flows"]


def test_in_an_e2ee_room_the_recorder_counts_once_it_is_a_member_of_the_group():
    async def run() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with running_node() as rn:
            pub = Bot(rn.ws_url, credential(rn, name="Alice"), "Alice")
            await pub.connect()
            await pub.send({"type": "mls_create"})
            await pub.publish(video=str(media.video_file("vp8", seconds=SECONDS)))
            recorder = Bot(rn.ws_url, credential(rn, name="ACME archive", role="recorder"), "recorder")
            joined = await recorder.connect()
            out["present_not_member"] = joined["recording"]
            await recorder.negotiate()
            await wait_for(lambda: _more(rn, 100), 20)
            await asyncio.sleep(QUIET)
            out["frames_before_commit"] = frames(recorder)
            # Alice adds the recorder to the group (the commit's content is the members' business)
            await pub.send({"type": "mls_commit", "epoch": 0, "commit": "Y29tbWl0", "welcome": "d2VsY29tZQ",
                            "joiners": [joined["participant"]]})
            out["released"] = await wait_for(
                lambda: any(m.get("type") == "recording" and not m["held"] for m in pub.messages), 10)
            out["decoded"] = await wait_for(lambda: frames(recorder) > 30, 30)
            for b in (pub, recorder):
                await b.close()
        return out

    out = asyncio.run(run())
    assert out["present_not_member"]["held"] is True and out["present_not_member"]["recorders"] == []
    assert out["frames_before_commit"] == 0
    assert out["released"] and out["decoded"]


def test_a_recorder_credential_cannot_be_used_as_a_persons_it_publishes_and_says_nothing():
    """A recorder credential that leaked (or a pool page told to) offers a camera and a microphone, as a person
    would, and chats: the node answers its sending m-lines inactive, publishes no track of it, forwards none of
    its media and refuses its chat; an ordinary participant's camera and chat in the same room reach the viewer,
    so the silence means something."""
    async def run() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with running_node() as rn:
            viewer = Bot(rn.ws_url, credential(rn, name="Bob", policy="allowed"), "Bob")
            await viewer.connect()
            recorder = Bot(rn.ws_url, credential(rn, name="ACME archive", policy="allowed", role="recorder"), "rec")
            joined = await recorder.connect()
            out["joined_says_recorder"] = joined.get("recorder")
            out["viewer_joined_says"] = viewer.joined.get("recorder")
            await recorder.publish(video=str(media.video_file("vp8", seconds=SECONDS)),
                                   audio=str(media.audio_file(seconds=SECONDS)))
            answer = next(m for m in reversed(recorder.messages) if m.get("type") == "answer")
            out["publications"] = answer["publications"]
            out["inactive"] = answer["sdp"].count("a=inactive")
            honest = Bot(rn.ws_url, credential(rn, name="Alice", policy="allowed"), "Alice")
            await honest.connect()
            await honest.publish(video=str(media.video_file("vp8", seconds=SECONDS)))
            out["honest_decoded"] = await wait_for(lambda: frames(viewer) > 30, 30)
            await asyncio.sleep(QUIET)
            out["owners"] = sorted({t["participant"] for t in viewer.tracks.values()})
            out["recorder_id"], out["honest_id"] = joined["participant"], honest.joined["participant"]
            out["room_tracks_of_recorder"] = [t.id for t in rn.node.by_id[joined["participant"]].published.values()]
            # nor does it speak in the meeting's name: its chat is refused, and reaches nobody
            await recorder.send({"type": "chat", "data": "sealed-looking blob"})
            await wait_for(lambda: any(e.get("code") == "forbidden" for e in recorder.errors), 10)
            out["chat_refused"] = [e["code"] for e in recorder.errors]
            await honest.send({"type": "chat", "data": "from Alice"})
            await wait_for(lambda: any(m.get("type") == "chat" for m in viewer.messages), 10)
            out["viewer_chat_from"] = [m["from"] for m in viewer.messages if m.get("type") == "chat"]
            for b in (viewer, recorder, honest):
                await b.close()
        return out

    out = asyncio.run(run())
    assert out["joined_says_recorder"] is True and out["viewer_joined_says"] is False, out
    assert out["publications"] == {} and out["inactive"] == 2, out
    assert out["room_tracks_of_recorder"] == []
    assert out["chat_refused"] == ["forbidden"], out
    assert out["viewer_chat_from"] == [out["honest_id"]], out  # Alice's arrived, the recorder's never did
    assert out["honest_decoded"], "the honest publisher's camera never reached the viewer"
    assert out["owners"] == [out["honest_id"]], out  # the viewer was offered Alice's track only
