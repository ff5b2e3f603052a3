"""Issue 15, the control plane launches and dismisses recorders (docs/recording.md, "Launching recorders"), end to
end in a loopback-only namespace: a real control plane and node (tests/recording/pool_stack.py), the real pool
process (`python -m recording.pool`) for eu-1 with its scoped key, and a us-1 pool announcing all along that ACME's
EU meetings must never get. Participants in Debian's Chromium (tests/browser/pool_scenarios.py).

- `required`: until the pool's recorder is in, the pages decode nothing and say they wait, their indicators
  "Recording could not start" (the node read the control plane's refusal); the eu-1 pool starts only then and its
  recorder joins by itself; both decode and show "● REC". Its Chromium is then killed mid-meeting: the pool's new
  recorder continues the SAME recording as a second part with the gap recorded (one recording, not two); when they
  leave, it is sealed in the archive with media, and its export verifies offline listing both parts and the gap.
- `allowed`: nobody records until the host's Start; the recorder appears in both rosters; Stop dismisses it and
  that recording is sealed with media.
"""

from __future__ import annotations

import json

import pytest

from tests.browser.netns import NsProcess, run_driver
from tests.recording.pool_world import pool_world

pytestmark = [pytest.mark.browser, pytest.mark.netns, pytest.mark.timeout(600)]


def test_the_control_plane_launches_the_pools_recorder_and_dismisses_it() -> None:
    with pool_world("recorder-pool") as world:
        # the tenant deposits its links' secrets with the pool (the control plane never has them)
        link_secrets = world.work / "link-secrets.json"
        link_secrets.write_text(json.dumps({v["link"]: v["secret"] for v in world.stack["links"].values()}))
        access = ("--link-secrets", str(link_secrets))
        us_pool = NsProcess(world.ns, world.pool_argv("us-1", "pool-us-a", *access), world.work / "pool-us.log")
        try:
            cfg = {**world.stack, "pool_argv": world.pool_argv("eu-1", "pool-eu-a", *access),
                   "pool_log": str(world.work / "pool-eu.log"), "quiet": 6, "record_seconds": 6}
            result = run_driver(world.ns, "recorder_pool", cfg, timeout=540, name="recorder-pool")
        finally:
            us_pool.stop()
    assert "error" not in result, world.failure(result, "pool-eu.log")
    # 1. required: nothing decoded while waiting — the us-1 pool was there and was refused, saying why
    for k, v in result["before"].items():
        assert v["waiting"] and v["recording"]["held"] is True, (k, v["recording"])
        assert sum(x["framesDecoded"] for x in v["video"]) == 0, (k, v["video"])
    [refusal] = result["refusals"]["refusals"]
    assert refusal["code"] == "no_recorder_in_allowed_regions", refusal
    for k, v in result["after"].items():
        assert not v["waiting"] and "ACME archive" in v["roster"], (k, v["roster"])
    assert set(result["refused_indicators"].values()) == {"Recording could not start"}
    assert set(result["live_indicators"].values()) == {"● REC"} and set(result["live_again"].values()) == {"● REC"}
    [req] = result["required_sealed"]  # one recording for the meeting, though its recorder died once
    assert req["regions"] == ["eu-1"] and req["recorder"]["recorder"] == "pool-eu-a"
    assert {f["kind"] for f in req["files"]} >= {"video", "audio"}, req["files"]
    assert [p["part"] for p in req["parts"]] == [1, 2], req["parts"]
    assert all(p["region"] == "eu-1" and p["recorder"] == "pool-eu-a" for p in req["parts"])
    assert all(any(n.endswith(".webm") for n in p["files"]) for p in req["parts"]), req["parts"]  # media in both
    [gap] = req["gaps"]
    assert gap["recorder"] == gap["replaced_by"] == "pool-eu-a" and 0 <= gap["from_ms"] <= gap["to_ms"], gap
    exported = result["required_export"]
    # rolling segments (5 s here) sealed as the meeting went on: each part lists its segments, whose files are in it,
    # and every video file of the package decodes on its own
    segments = [s for p in exported["recording"]["parts"] for s in p.get("segments", [])]
    assert segments and all(set(s["files"]) <= set(p["files"]) for p in exported["recording"]["parts"]
                            for s in p.get("segments", [])), exported["recording"]["parts"]
    assert exported["video_frames"] and all(n > 0 for n in exported["video_frames"].values()), exported["video_frames"]
    assert [p["part"] for p in exported["recording"]["parts"]] == [1, 2] and len(exported["recording"]["gaps"]) == 1
    # the gap runs from the dead recorder's last frame to its replacement's first, and part 2's timeline says so
    assert gap["from_ms"] < gap["to_ms"] and exported["part2_tracks_from"] >= gap["from_ms"], (gap, exported)
    assert req["parts"][0]["to_ms"] == gap["from_ms"] and req["parts"][1]["from_ms"] == gap["to_ms"]
    [line] = exported["part2_gap_lines"]
    assert (line["from_ms"], line["to_ms"], line["replaced_by"]) == (gap["from_ms"], gap["to_ms"], "pool-eu-a"), line
    # 2. allowed: no recorder before Start; in after it; out after Stop; sealed with media
    assert all("ACME archive" not in r for r in result["allowed_before"]["roster"].values())
    assert set(result["allowed_before"]["indicators"].values()) == {"● may be recorded"}
    assert set(result["allowed_indicators"].values()) == {"● REC"}
    [al] = result["allowed_sealed"]
    assert al["regions"] == ["eu-1"] and any(f["kind"] == "video" and f["size"] > 0 for f in al["files"])
    # never a us-1 recorder, in either meeting
    assert all(r["regions"] == ["eu-1"] for r in result["recordings"]), result["recordings"]
    assert result["pool_exit"] == 0
