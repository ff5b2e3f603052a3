"""The CI size of `python -m loadtests.residency_verify` (its figures are printed, never asserted): the meeting
of 100 participants on three nodes verifies, through the `castellan residency verify` command too."""

from __future__ import annotations

import json

import pytest

from loadtests import residency_verify


def test_the_benchmark_meeting_verifies(capsys: pytest.CaptureFixture[str]) -> None:
    assert residency_verify.main(["--records", "40", "--hours", "2", "--fetch-every", "10"]) == 0
    out = capsys.readouterr().out
    assert "This meeting was processed in: EU 1 (Frankfurt, DE), EU 2 (Paris, FR), EU 3 (Milan, IT) - verified" in out
    figures = json.loads(out[out.index("{"):])
    assert figures["participants"] == [100, 100, 100] and figures["held_heads"] >= 5
