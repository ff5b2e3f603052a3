"""Recording policy: a link tightens its tenant's policy, never loosens it; required holds media until the
recorder is a member; only a host starts or stops, and only under "allowed"."""

from __future__ import annotations

import pytest

from recording.policy import RecordingPolicy as P
from recording.policy import effective, may_start_or_stop, media_may_start, notice


@pytest.mark.parametrize(("tenant", "link", "want"), [
    (P.OFF, None, P.OFF), (P.OFF, P.REQUIRED, P.OFF), (P.OFF, P.ALLOWED, P.OFF),
    (P.REQUIRED, None, P.REQUIRED), (P.REQUIRED, P.OFF, P.REQUIRED), (P.REQUIRED, P.ALLOWED, P.REQUIRED),
    (P.ALLOWED, None, P.ALLOWED), (P.ALLOWED, P.OFF, P.OFF), (P.ALLOWED, P.REQUIRED, P.REQUIRED),
])
def test_a_link_cannot_loosen_its_tenants_policy(tenant: P, link: P | None, want: P) -> None:
    assert effective(tenant, link) is want


def test_required_holds_media_until_the_recorder_is_a_member() -> None:
    assert not media_may_start(P.REQUIRED, recorder_is_member=False)
    assert media_may_start(P.REQUIRED, recorder_is_member=True)
    assert media_may_start(P.ALLOWED, recorder_is_member=False)


def test_only_a_host_under_allowed_starts_or_stops() -> None:
    assert may_start_or_stop(P.ALLOWED, is_host=True)
    assert not may_start_or_stop(P.ALLOWED, is_host=False)
    assert not may_start_or_stop(P.REQUIRED, is_host=True)  # nobody stops a required recording
    assert not may_start_or_stop(P.OFF, is_host=True)


def test_every_participant_is_told_before_joining() -> None:
    assert "recorded by ACME archive" in notice(P.REQUIRED, False, "ACME archive").text
    assert notice(P.REQUIRED, False).recording
    assert "may record" in notice(P.ALLOWED, False).text
    assert notice(P.OFF, False).text == ""


@pytest.mark.parametrize("bad", ["ON", "", None, 1, "required "])
def test_anything_but_the_three_words_is_a_clear_error(bad: object) -> None:
    with pytest.raises(ValueError, match="off, allowed, required"):
        P.parse(bad)
