"""Issue 15, "required" in real browsers: two E2EE participants in Debian's Chromium, through a real node, in a
meeting whose signed policy is `required`. Until the recorder (a credential with role `recorder`) is in, neither
decodes anything from the other and both pages say they wait for the recorder; with it, they decode each other;
when the recorder's browser dies, forwarding stops again and both pages say so. Under "allowed", the host starts
and stops recording with the People panel's button and both pages' indicators follow."""

from __future__ import annotations

import base64
import json
import secrets

import pytest

from signalling.tokens import KeyRing, TokenIssuer
from tests.browser.netns import (
    ARTIFACTS,
    HTTP_PORT,
    WEB_PORT,
    loopback_namespace,
    node_in,
    run_driver,
    skip_unless_possible,
    web_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.netns, pytest.mark.timeout(400)]


def _run(name: str, scenario: str, roles: dict[str, tuple[str, str, bool]], policy: str) -> dict:
    skip_unless_possible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    keys = KeyRing()
    issuer = TokenIssuer(keys)
    tokens = {k: issuer.mint(tenant="acme", room=name, participant=f"p-{k.lower()}-{secrets.token_hex(3)}",
                             region="local", node="node-1", name=n, ttl=600, recording=policy, role=role, host=host)
              for k, (n, role, host) in roles.items()}
    jwks = ARTIFACTS / f"{name}.jwks.json"
    jwks.write_text(json.dumps(keys.jwks()))
    cfg = {"base_url": f"http://127.0.0.1:{WEB_PORT}", "http_url": f"http://127.0.0.1:{HTTP_PORT}",
           "ws_url": f"ws://127.0.0.1:{HTTP_PORT}/ws", "tokens": tokens, "quiet": 8,
           "secret": base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()}
    with loopback_namespace() as ns, node_in(ns, name, jwks_file=jwks) as node, web_in(ns, name, {}):
        result = run_driver(ns, scenario, cfg, timeout=330, name=name)
        node_log = node.output()
    assert "error" not in result, result["error"] + "\nconsole:\n" + "\n".join(result.get("console", [])[-40:]) + \
        "\nnode:\n" + node_log[-3000:]
    return result


def test_required_meeting_waits_for_the_recorder_then_decodes_and_waits_again_when_it_dies():
    roles = {"A": ("Alice", "participant", False), "B": ("Bob", "participant", False),
             "REC": ("ACME archive", "recorder", False)}
    result = _run("recording-required", "recording_required", roles, "required")
    before = result["before"]
    for k, v in before.items():
        assert v["waiting"] and "Waiting for the recorder" in v["waitText"], (k, v)
        assert v["recording"]["held"] is True and v["recording"]["policy"] == "required", (k, v["recording"])
        assert sum(x["framesDecoded"] for x in v["video"]) == 0, (k, v["video"])
    after = result["after"]
    for k, v in after.items():
        assert not v["waiting"] and v["recording"]["held"] is False, (k, v)
        assert sorted(v["roster"]) == ["ACME archive", "Alice", "Bob"], (k, v["roster"])
    assert result["recorder"]["recording"]["held"] is False
    for k, v in result["after_death"].items():
        assert v["waiting"] and v["recording"]["held"] is True, (k, v)
    settled, later = result["frames_after_death"]
    assert later == settled, f"media still decoded after the recorder died: {settled} -> {later}"


def test_under_allowed_the_host_starts_and_stops_recording_and_every_indicator_follows():
    roles = {"H": ("Hosta", "participant", True), "B": ("Bob", "participant", False)}
    result = _run("recording-host", "recording_host", roles, "allowed")
    assert result["before"] == {"H": "● may be recorded", "B": "● may be recorded"}, result["before"]
    assert result["bob_sees_button"] is False
    assert result["people_button_stable"] is True, "the People button's children were replaced by a refresh"
    # nobody records in this world (no pool): the indicator says so rather than "● REC" (tests/recording/
    # test_recorder_pool_browser.py shows "● REC" once the pool's recorder is in)
    assert result["started"] == {"H": "Recording starting…", "B": "Recording starting…"}
    assert result["button_started"] == "Stop recording"
    assert result["stopped"] == {"H": "● may be recorded", "B": "● may be recorded"}
    assert result["button_stopped"] == "Start recording"
