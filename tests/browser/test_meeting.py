"""Issue 16: the meeting people expect, and its host controls, in Debian Chromium from real links (a real control
plane and node in a loopback-only namespace). One meeting carries every check, each read on the other side:
participant list and count, mute state and speaking, raise hand, join notices, invite panel, a real camera off
(the host's framesReceived stops, the sender's track is `ended`) and on again (still end-to-end encrypted),
device switching, presenter layout and preview, chat timestamps and unread count, the phone layout, lock, ask to
mute, remove (the E2EE group commits the removed participant out), end for all, the end states, a forged host
message, a revoked link keeping the camera off; every host action in the node's audit log; axe-core on every
screen (no serious or critical violation). Screenshots: artifacts/browser/meeting-*.png."""

from __future__ import annotations

import base64
import secrets
import tempfile
from pathlib import Path
from typing import Any

import pytest

from residency.audit import AuditLog
from tests.browser.meeting_scenarios import AXE
from tests.browser.netns import (
    ARTIFACTS,
    HTTP_PORT,
    UDP_PORT,
    WEB_PORT,
    NsProcess,
    loopback_namespace,
    node_argv,
    run_driver,
    skip_unless_possible,
    web_in,
)
from tests.browser.picture import assert_visible

pytestmark = [pytest.mark.browser, pytest.mark.netns, pytest.mark.timeout(1000)]


def test_meeting_host_controls_end_states_and_accessibility() -> None:
    skip_unless_possible()
    if not AXE.exists():
        pytest.skip(f"axe-core not installed ({AXE}): run signalling/vendor/build.sh")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    web = f"http://127.0.0.1:{WEB_PORT}"
    stack = {
        "control": True, "public_url": web, "region": "eu-1", "node_id": "node-1", "udp_port": UDP_PORT,
        "ws_url": f"ws://127.0.0.1:{HTTP_PORT}/ws", "node_http_url": f"http://127.0.0.1:{HTTP_PORT}",
        "links": {"meeting": {"title": "Design review", "password": "correct horse battery"},
                  "lobby": {"title": "Office hours", "no_password": True, "lobby": True},
                  "revoked": {"title": "Old meeting", "no_password": True, "revoke": True}},
    }
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    data_dir = Path(tempfile.mkdtemp(prefix="castellan-meeting-node-"))
    with loopback_namespace() as ns, web_in(ns, "meeting", stack) as cp:
        node = NsProcess(ns, [*node_argv(control_plane_url=web, region="eu-1"), "--data-dir", str(data_dir)],
                         ARTIFACTS / "meeting.node.log")
        try:
            result = run_driver(ns, "meeting", {"base_url": web, "http_url": f"http://127.0.0.1:{HTTP_PORT}",
                                                "links": cp.info["links"], "secret": secret},
                                timeout=900, name="meeting")
        finally:
            node.stop()
        logs = node.output()[-3000:] + cp.output()[-2000:]
    assert "error" not in result, result["error"] + "\n" + "\n".join(result.get("console", [])[-60:]) + logs
    check(result, web=web, link=cp.info["links"]["meeting"], secret=secret, node_audit=data_dir / "node-audit.db",
          control_db=Path(cp.info["control_db"]))


def check(result: dict[str, Any], *, web: str, link: dict[str, Any], secret: str, node_audit: Path,
          control_db: Path) -> None:
    """The assertions on the driver's result (apart from the test: a campaign run by hand can be checked too)."""
    t = result["checks"]

    # a revoked link: said so, camera never asked for
    assert "revoked" in t["revoked"]["state"] and not t["revoked"]["preview"] and not t["revoked"]["local"], t["revoked"]
    # invite: the link without the host key; the password is not in it and how to send it is said
    assert t["invite"]["link"] == f"{web}/j/{link['link']}#k={secret}", t["invite"]
    assert "h=" not in t["invite"]["link"] and link["password"] not in t["invite"]["link"]
    assert "not in the link" in t["invite"]["password"] and "separately" in t["invite"]["password"]
    assert t["invite"]["copied"], t["invite"]
    # list and count on every side, join notices at the host, the host marked for the others
    assert all(j["peopleCount"] == "(3)" for j in t["joined"]), t["joined"]
    assert "Bob Builder joined" in t["host_toasts"] and "Pat Phone joined" in t["host_toasts"], t["host_toasts"]
    assert t["bob_sees_host_mark"]
    # the phone's camera at the desktops: decoded, not a black tile
    assert_visible(t["phone_at_host"])
    assert_visible(t["phone_at_bob"])
    assert t["phone_screen_button_hidden"] and t["desktop_screen_button_visible"]
    assert t["speaking_seen"], ("the host never saw Bob speaking", t["speaking_person"])
    assert "muted" in t["mute_seen_by_host"], ("the host never saw Bob muted", t["mute_seen_by_host"])
    assert t["hand_seen_by_host"] and any("raised their hand" in x for x in t["hand_toast"]), t
    # camera off: the capture ends, nothing is sent, the host receives no frames; on: decoding again, encrypted
    off = t["camera_off_sender"]
    assert off["sender"]["track"] is None and off["local"] == [] and off["old_track"] == "ended", off
    assert t["frames_while_off"] == 0, t["frames_while_off"]
    assert t["camera_on"]["decoded_after"] > 20 and "End-to-end encrypted" in t["camera_on"]["lock"], t["camera_on"]
    assert t["camera_on"]["sender"]["track"] == "live" and t["camera_on"]["sender"]["transform"], t["camera_on"]
    assert t["device_switched"]
    # chat
    assert t["unread"] == 1 and t["chat_button"] == "Chat 1", t
    assert t["chat_after_open"]["unread"] == 0 and t["chat_after_open"]["time"], t["chat_after_open"]
    assert "Welcome, everyone" in t["chat_after_open"]["text"]
    # presenter layout at the others, a preview at the presenter
    assert "Hilda Host" in t["presenter_at_bob"] and "screen" in t["presenter_at_bob"], t["presenter_at_bob"]
    assert t["presenter_preview"] == {"presenting": True, "stage": "Your screen (preview)"}, t["presenter_preview"]
    # the details panel holds where and the safety code; the header no longer does
    d = t["details"]
    assert "Frankfurt" in d["where"] and "Safety code" in d["safety"], d
    assert "Safety code" not in d["header"] and "Frankfurt" not in d["header"], d
    # a forged host message from a participant is refused and changes nothing
    assert t["forged_host"]["host_still_in"] and t["forged_host"]["bob_still_in"], t["forged_host"]
    # lock and unlock
    assert t["locked_badge_at_bob"] and "locked this meeting" in t["locked_out"], t
    assert any("Connection lost — rejoining" in n for n in t["connection_lost_notice"]), t["connection_lost_notice"]
    # rejoined with the camera off: the button turns it on, the host decodes it again
    rc = t["rejoin_camera_off"]
    assert not rc["button"]["disabled"] and "Camera on" in rc["button"]["label"] and rc["camOff"], rc
    assert rc["sender"] == {"track": "live", "transform": True}, rc
    assert_visible(rc["at_host"])
    assert t["you_left"]["title"] == "You left" and t["you_left"]["rejoin"], t["you_left"]
    # ask to mute: muted, told; the host sees it
    assert t["asked_to_mute"]["muted"] and "muted your microphone" in t["asked_to_mute"]["notice"], t
    assert "muted" in t["host_sees_muted"]
    # remove: the page ends for good; the group moved on without the removed member, which stays behind
    assert t["removed"]["title"] == "The host removed you from the meeting" and not t["removed"]["rejoin"], t
    after = t["after_removal"]
    assert after[0]["epoch"] == after[1]["epoch"] > t["epoch_before_removal"] and after[0]["safety"] == after[1]["safety"]
    assert t["removed_page_epoch"] is None or t["removed_page_epoch"] < after[0]["epoch"], t
    # end for all
    for e in t["ended"]:
        assert e["title"] == "The organiser ended the meeting" and not e["rejoin"], t["ended"]
    assert set(t["camera_after_end"]) <= {"ended"}, t["camera_after_end"]
    # every host action, in the node's audit log, by the host
    records = AuditLog(node_audit).tenant_records("acme")
    kinds = [r.kind for r in records]
    assert kinds == ["host.lock", "host.unlock", "host.mute", "host.remove", "host.end"], kinds
    assert len({r.actor for r in records}) == 1 and records[0].actor.startswith("host:")
    # the waiting room from the meeting: denied, told so; the decision is in the control plane's audit log
    assert "did not let you in" in t["lobby_denied"], t["lobby_denied"]
    assert "lobby.deny" in [r.kind for r in AuditLog(control_db).tenant_records("acme")]
    # accessibility: no serious or critical violation on any screen
    bad = {name: [v for v in vs if v["impact"] in ("serious", "critical")] for name, vs in result["axe"].items()}
    assert not any(bad.values()), {k: v for k, v in bad.items() if v}
    assert len(result["axe"]) >= 14, sorted(result["axe"])
    for path in result["screenshots"]:
        assert Path(path).stat().st_size > 1000
