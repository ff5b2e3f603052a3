"""Issue 8: VP9 SVC from a real browser. A Chromium publisher sends one VP9 stream with three spatial layers
(scalabilityMode L3T3_KEY, 1280x720); a Chromium subscriber with a small tile receives only the lowest spatial
layer (the node drops the others from the same SSRC and moves the marker bit), and when the tile grows it receives
the top one, decoding on throughout."""

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


def test_vp9_svc_small_tile_gets_the_lowest_spatial_layer_and_a_large_one_the_top():
    skip_unless_possible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    keys = KeyRing()
    jwks = ARTIFACTS / "svc.jwks.json"
    jwks.write_text(json.dumps(keys.jwks()))
    issuer = TokenIssuer(keys)
    tokens = [issuer.mint(tenant="acme", room="svc", participant=p, region="local", node="node-1", name=p, ttl=120)
              for p in ("publisher", "subscriber")]
    with loopback_namespace() as ns, node_in(ns, "svc", jwks_file=jwks) as node:
        result = run_driver(ns, "svc", {"http_url": f"http://127.0.0.1:{HTTP_PORT}",
                                        "ws_url": f"ws://127.0.0.1:{HTTP_PORT}/ws", "tokens": tokens},
                            timeout=120, name="svc")
        node_log = node.output()
    assert "error" not in result, result["error"] + "\n" + "\n".join(result.get("console", [])[-30:]) + \
        "\nnode:\n" + node_log[-4000:]
    published = result["published"]
    assert published and published[0]["scalabilityMode"] == "L3T3_KEY", published
    small, large, after = result["small"], result["large"], result["after"]
    assert 0 < small["frameWidth"] <= 400, small  # spatial layer 0 (320x180) of the 1280x720 stream
    assert large["frameWidth"] >= 960, large  # the top spatial layer
    assert after["framesDecoded"] > large["framesDecoded"] + 10, after  # and decoding goes on
