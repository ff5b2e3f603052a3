"""Issue 8 (first part): simulcast from a real browser. A Chromium publisher sends three layers (quarter, half,
full resolution); a Chromium subscriber that shows the video small receives the lowest layer; when it shows it
large, the node moves it to the top layer at a keyframe — the same stream continues, no freeze, no new track."""

from __future__ import annotations

import pytest

from tests.browser.netns import publisher_and_subscriber

pytestmark = [pytest.mark.browser, pytest.mark.netns, pytest.mark.timeout(150)]


def test_a_small_tile_gets_the_low_layer_and_growing_it_switches_up_without_a_freeze():
    result = publisher_and_subscriber("simulcast", "simulcast")
    small, large, after = result["small"], result["large"], result["after"]
    assert 0 < small["frameWidth"] <= 400, small  # the quarter layer (320x180)
    assert large["frameWidth"] >= 960, (large, result["published_large"])  # the full layer (1280x720)
    # one continuous stream: decoding went on across the switch, and goes on after it
    assert large["framesDecoded"] > small["framesDecoded"]
    assert after["framesDecoded"] > large["framesDecoded"] + 10
    assert after.get("freezeCount", 0) <= 1, after
    # and 5 s on it stays there, at the publisher's frame rate: a step onto a layer whose rate the node had not
    # measured yet (just started) went up on an estimate that did not cover it, and 2 s later the node thinned the
    # frame rate to a quarter or stepped back down (freezeCount 2 in CI). Single late frames (a publisher's encoder
    # reconfigured, a 720p keyframe paced out; docs/reliability.md) are not asserted on here
    later = result["later"]
    assert later["frameWidth"] >= 960, later
    top = max(result["published_later"], key=lambda e: e["frameWidth"])
    fps = (later["framesDecoded"] - after["framesDecoded"]) / result["later_span"]
    assert fps >= 0.6 * top["fps"], (fps, top, later)
    # the publisher was told which layers anyone takes: only the low ones while the tile was small
    assert result["pub_layers_small"] and result["pub_layers_small"]["f"] is False, result["pub_layers_small"]
    assert result["pub_layers_large"]["f"] is True, result["pub_layers_large"]
