"""Issue 8: VP9 SVC from a real browser. A Chromium publisher sends one VP9 stream with three spatial layers
(scalabilityMode L3T3_KEY, 1280x720); a Chromium subscriber with a small tile receives only the lowest spatial
layer (the node drops the others from the same SSRC and moves the marker bit), and when the tile grows it receives
the top one, decoding on throughout."""

from __future__ import annotations

import pytest

from tests.browser.netns import publisher_and_subscriber

pytestmark = [pytest.mark.browser, pytest.mark.netns, pytest.mark.timeout(150)]


def test_vp9_svc_small_tile_gets_the_lowest_spatial_layer_and_a_large_one_the_top():
    result = publisher_and_subscriber("svc", "svc")
    published = result["published"]
    assert published and published[0]["scalabilityMode"] == "L3T3_KEY", published
    small, large, after = result["small"], result["large"], result["after"]
    assert 0 < small["frameWidth"] <= 400, small  # spatial layer 0 (320x180) of the 1280x720 stream
    assert large["frameWidth"] >= 960, large  # the top spatial layer
    assert after["framesDecoded"] > large["framesDecoded"] + 10, after  # and decoding goes on
