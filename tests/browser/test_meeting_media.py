"""Issue 16: a phone participant's camera as the others see it, and the Camera button after a resume or a rejoin
with the camera off — a desktop and a phone (390x844, mobile, touch) in Debian Chromium, from a real link (control
plane and node in a loopback-only namespace). Scenario: tests/browser/meeting_media_scenarios.py. Screenshots:
artifacts/browser/meeting-media-*.png."""

from __future__ import annotations

import base64
import secrets
from typing import Any

import pytest

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

pytestmark = [pytest.mark.browser, pytest.mark.netns, pytest.mark.timeout(400)]


def test_the_phone_is_seen_and_its_camera_comes_back_after_resume_and_rejoin() -> None:
    skip_unless_possible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    web = f"http://127.0.0.1:{WEB_PORT}"
    stack = {
        "control": True, "public_url": web, "region": "eu-1", "node_id": "node-1", "udp_port": UDP_PORT,
        "ws_url": f"ws://127.0.0.1:{HTTP_PORT}/ws", "node_http_url": f"http://127.0.0.1:{HTTP_PORT}",
        "links": {"meeting": {"title": "Stand-up", "no_password": True}},
    }
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    with loopback_namespace() as ns, web_in(ns, "meeting-media", stack) as cp:
        node = NsProcess(ns, node_argv(control_plane_url=web, region="eu-1"), ARTIFACTS / "meeting-media.node.log")
        try:
            result = run_driver(ns, "meeting_media", {"base_url": web, "http_url": f"http://127.0.0.1:{HTTP_PORT}",
                                                      "links": cp.info["links"], "secret": secret},
                                timeout=360, name="meeting-media")
        finally:
            node.stop()
        logs = node.output()[-3000:] + cp.output()[-2000:]
    assert "error" not in result, result["error"] + "\n" + "\n".join(result.get("console", [])[-60:]) + logs
    check(result["checks"])


def check(t: dict[str, Any]) -> None:
    assert_visible(t["phone_at_desktop"])
    assert_visible(t["desktop_at_phone"])
    for key in ("resumed_camera_off", "rejoined_camera_off"):
        back = t[key]
        # the button offers the camera back (it is off), and pressing it captures and sends again, encrypted
        assert not back["button"]["disabled"] and back["button"]["camOff"], (key, back)
        assert "Camera on" in back["button"]["label"] and back["button"]["pressed"] == "true", (key, back)
        after = back["after_press"]
        assert after["local"] == ["live"] and after["sender"] == {"track": "live", "transform": True}, (key, after)
        assert not after["button"]["disabled"] and "Camera off" in after["button"]["label"], (key, after)
        assert_visible(back["desktop"])
