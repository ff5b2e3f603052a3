"""Issue 8 (first part): simulcast from a real browser. A Chromium publisher sends three layers (quarter, half,
full resolution); a Chromium subscriber that shows the video small receives the lowest layer; when it shows it
large, the node moves it to the top layer at a keyframe — the same stream continues, no freeze, no new track."""

from __future__ import annotations

import json

import pytest

from signalling.tokens import KeyRing, TokenIssuer
from tests.browser.netns import (
    ARTIFACTS,
    HTTP_PORT,
    loopback_namespace,
    node_in,
    run_driver,
    skip_unless_possible,
)

pytestmark = [pytest.mark.browser, pytest.mark.netns, pytest.mark.timeout(150)]


def test_a_small_tile_gets_the_low_layer_and_growing_it_switches_up_without_a_freeze():
    skip_unless_possible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    keys = KeyRing()
    jwks = ARTIFACTS / "simulcast.jwks.json"
    jwks.write_text(json.dumps(keys.jwks()))
    issuer = TokenIssuer(keys)
    tokens = [
        issuer.mint(tenant="acme", room="simulcast", participant=p, region="local", node="node-1", name=p, ttl=120)
        for p in ("publisher", "subscriber")
    ]
    with loopback_namespace() as ns, node_in(ns, "simulcast", jwks_file=jwks) as node:
        result = run_driver(
            ns, "simulcast",
            {"http_url": f"http://127.0.0.1:{HTTP_PORT}", "ws_url": f"ws://127.0.0.1:{HTTP_PORT}/ws",
             "tokens": tokens},
            timeout=120, name="simulcast",
        )
        node_log = node.output()
    assert "error" not in result, result["error"] + "\n" + "\n".join(result.get("console", [])[-30:]) + \
        "\nnode:\n" + node_log[-4000:]
    small, large, after = result["small"], result["large"], result["after"]
    assert 0 < small["frameWidth"] <= 400, small  # the quarter layer (320x180)
    assert large["frameWidth"] >= 960, large  # the full layer (1280x720)
    # one continuous stream: decoding went on across the switch, and goes on after it
    assert large["framesDecoded"] > small["framesDecoded"]
    assert after["framesDecoded"] > large["framesDecoded"] + 10
    assert after.get("freezeCount", 0) <= 1, after
    # the publisher was told which layers anyone takes: only the low ones while the tile was small
    assert result["pub_layers_small"] and result["pub_layers_small"]["f"] is False, result["pub_layers_small"]
    assert result["pub_layers_large"]["f"] is True, result["pub_layers_large"]
