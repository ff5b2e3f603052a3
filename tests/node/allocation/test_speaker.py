"""The dominant speaker follows who talks, does not flicker on a cough, and drives last-N."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sfu.allocation.speaker import SpeakerDetector, last_n

LOUD, QUIET = 100.0, 20.0


def run(detector: SpeakerDetector, script: list[tuple[float, dict[str, float]]], start: float = 0.0) -> list[tuple[float, str]]:
    changes = []
    t = start
    for seconds, levels in script:
        for _ in range(int(seconds * 10)):
            t += 0.1
            who = detector.update(levels, t)
            if who:
                changes.append((round(t, 1), who))
    return changes


def detector(*pids: str) -> SpeakerDetector:
    d = SpeakerDetector()
    for p in pids:
        d.join(p)
    return d


def test_alternating_speakers_are_followed_in_turn():
    d = detector("a", "b", "c")
    changes = run(d, [
        (3, {"a": LOUD, "b": QUIET, "c": QUIET}),
        (3, {"a": QUIET, "b": LOUD, "c": QUIET}),
        (3, {"a": QUIET, "b": QUIET, "c": LOUD}),
    ])
    assert [w for _, w in changes] == ["a", "b", "c"]
    assert d.order == ["c", "b", "a"]
    # each switch comes within about a second and a half of the new speaker starting
    assert all(0 < t - start <= 1.6 for (t, _), start in zip(changes, (0, 3, 6), strict=False))


def test_a_cough_does_not_take_the_floor():
    d = detector("a", "b")
    changes = run(d, [
        (3, {"a": LOUD, "b": QUIET}),
        (0.3, {"a": LOUD, "b": LOUD}),   # b coughs while a talks
        (0.4, {"a": QUIET, "b": LOUD}),  # ... and a pauses for breath at the same moment
        (3, {"a": LOUD, "b": QUIET}),
    ])
    assert [w for _, w in changes] == ["a"]


def test_silence_keeps_the_last_speaker_and_leaving_clears_it():
    d = detector("a", "b")
    run(d, [(3, {"a": LOUD}), (5, {})])
    assert d.dominant == "a"
    d.leave("a")
    assert d.dominant is None and d.order == ["b"]


def test_last_n_is_the_most_recent_speakers_other_than_the_viewer():
    order = ["d", "c", "b", "a"]
    assert last_n(order, "a", 2) == {"d", "c"}
    assert last_n(order, "d", 2) == {"c", "b"}
    assert last_n(order, "a", 0) == {"b", "c", "d"}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcd"), st.floats(0, 127)), max_size=300))
def test_no_flicker_switches_are_at_least_the_hold_time_apart(events):
    d = detector("a", "b", "c", "d")
    t, last = 0.0, None
    for who, level in events:
        t += 0.1
        if d.update({who: level}, t) is not None:
            assert last is None or t - last >= 0.8
            last = t
