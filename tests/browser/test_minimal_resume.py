"""Issue 18, item 4: a signalling socket the node closes on its own (here 1009, a message over 256 KiB; 4008
`too_slow` is handled the same way) is resumed by the dev page: same participant, media on both ways, the page
does not show the meeting as left. Real Chromium in a loopback-only namespace against a `castellan node`."""

from __future__ import annotations

import pytest

from tests.browser.netns import publisher_and_subscriber

pytestmark = [pytest.mark.browser, pytest.mark.netns, pytest.mark.timeout(150)]


def test_the_dev_page_resumes_after_the_node_closes_its_socket():
    result = publisher_and_subscriber("minimal_resume", "resume-room")
    r = result["resume"]
    assert r["resumes"] >= 1 and r["open"], r
    assert any("signalling closed (1009)" in line for line in r["log"]), r["log"]
    assert r["same_participant"], r
    for b, a in zip(r["frames_before"], r["frames_after"], strict=True):
        assert a > b + 30, f"media stalled across the resume: {r['frames_before']} -> {r['frames_after']}"
    assert not any(s.startswith("left") or "lost contact" in s for s in r["status"]), r["status"]
