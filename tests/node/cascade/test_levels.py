"""Speaker levels across a cascade, the pure parts (sfu/cascade/levels.py, residency/relay.py RelayLevels,
sfu/cascade/link.py `tell_levels`): what the origin logs and sends per pass, what the far node queues and takes
one per detection interval, and the attacker's view — a node sending levels as loud, as often and as many as it
likes makes its own participant the speaker no sooner, and for no longer, than that participant's real audio
would; malformed levels are refused."""

from __future__ import annotations

import socket

import pytest

from native.reference import ReferenceForwarder
from residency.errors import RelayRefused
from residency.relay import MAX_LEVEL_SPEAKERS, MAX_LEVEL_VALUES, RelayChannel, RelayLevels
from sfu.allocation.speaker import SPEECH_LOUDNESS, SpeakerDetector
from sfu.cascade.levels import LEVEL_BACKLOG, LOG_INTERVALS, FarLevels, LevelLog, clamp
from sfu.cascade.link import RelayLink
from sfu.node import IndexPool
from tests.support.relays import relay_keys

INTERVAL = 0.1  # sfu/config.py speaker_interval


def test_the_origin_logs_floored_levels_and_a_pass_sends_only_who_spoke_since_the_last() -> None:
    log = LevelLog()
    log.record({"alice": 80.9, "bob": None, "carol": 71.99})
    log.record({"alice": 30.0, "carol": 50.0})
    batch, upto = log.since(0, {"alice", "bob", "carol"})
    # floored: 71.99 is not speech here (below 72), nor on the far side (71)
    assert batch == {"alice": [80, 30]} and upto == 2
    assert clamp(71.99) < SPEECH_LOUDNESS <= clamp(72.0)
    assert clamp(float("nan")) == 0 and clamp(500.0) == 127 and clamp(-3.0) == 0
    log.record({"carol": 90.0})
    batch, upto = log.since(upto, {"alice", "carol"})
    assert batch == {"carol": [90]} and upto == 3  # only the new interval
    assert log.since(upto, {"alice", "carol"}) == ({}, 3)  # nobody spoke since: nothing to send
    assert log.since(0, {"bob"}) == ({}, 3)  # only the participants asked for (the link's announced audio)
    for _ in range(3 * LOG_INTERVALS):
        log.record({"alice": 100.0})
    batch, _ = log.since(0, {"alice"})
    assert batch == {"alice": [100] * LOG_INTERVALS}  # bounded: a peer's missed passes are not kept for ever


def test_the_far_side_takes_one_value_per_interval_and_drops_past_the_backlog() -> None:
    far = FarLevels()
    assert far.take("alice") is None  # nothing came: silence
    assert far.offer("alice", [90, 91, 92]) == 0
    assert [far.take("alice") for _ in range(4)] == [90.0, 91.0, 92.0, None]
    assert far.offer("alice", [127] * (LEVEL_BACKLOG + 7)) == 7  # dropped, oldest first: counted by the caller
    assert len(far.queues["alice"]) == LEVEL_BACKLOG
    far.forget("alice")
    assert far.take("alice") is None


def _intervals_to_dominant(feed: list[float | None], fed: int) -> int | None:
    """Intervals until `mallory` is dominant over a room of three quiet participants, her loudness each interval
    from `feed` (then silence), over `fed` intervals."""
    d = SpeakerDetector()
    for p in ("alice", "bob", "mallory"):
        d.join(p)
    for i in range(fed):
        level = feed[i] if i < len(feed) else None
        if d.update({"alice": None, "bob": None, "mallory": level}, i * INTERVAL) == "mallory":
            return i
    return None


def test_a_hostile_node_gains_nothing_by_sending_more_louder_or_faster_than_real_audio() -> None:
    # a real participant speaking without a pause, read from the engine each interval
    real = _intervals_to_dominant([127.0] * 100, 100)
    assert real is not None
    # the hostile node sends the largest messages as often as the rate lets it (a burst of 8, all at once)
    far = FarLevels()
    dropped = sum(far.offer("mallory", [127] * MAX_LEVEL_VALUES) for _ in range(8))
    assert dropped == 8 * MAX_LEVEL_VALUES - LEVEL_BACKLOG
    taken = [far.take("mallory") for _ in range(100)]
    # one value per interval whatever it sent: she speaks for LEVEL_BACKLOG intervals at most, then is silent ...
    assert taken[:LEVEL_BACKLOG] == [127.0] * LEVEL_BACKLOG and set(taken[LEVEL_BACKLOG:]) == {None}
    # ... so she is the speaker no sooner than real speech makes one (and here, from one burst, not at all: 1 s of
    # speech does not outlast the hold), and only for as long as the values she sent last, one per interval
    hostile = _intervals_to_dominant(taken, 100)
    assert hostile is None or hostile >= real
    # a steady stream at the rate limit is exactly real speech: the same interval, never sooner
    far = FarLevels()
    steady: list[float | None] = []
    for _ in range(20):  # each pass (5 intervals): a full message, more than the interval can take
        far.offer("mallory", [127] * MAX_LEVEL_VALUES)
        steady += [far.take("mallory") for _ in range(5)]
    assert _intervals_to_dominant(steady, 100) == real


@pytest.mark.parametrize("levels", [
    {"a": [128]}, {"a": [-1]}, {"a": [True]}, {"a": [72.5]}, {"a": []}, {"a": "72"},
    {"a": [72] * (MAX_LEVEL_VALUES + 1)}, {"": [72]}, {"x" * 129: [72]},
    {f"p{i}": [72] for i in range(MAX_LEVEL_SPEAKERS + 1)}, [72],
])
def test_malformed_levels_are_refused(levels: object) -> None:
    with pytest.raises(RelayRefused) as e:
        RelayLevels.from_message({"type": "levels", "levels": levels})
    assert e.value.code == "relay_message_malformed"


def test_a_pass_seals_the_loudest_speakers_their_latest_values_within_the_bounds() -> None:
    [(keys, far)] = relay_keys([("eu-1-a", "eu-2-a")])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        link = RelayLink.open(ReferenceForwarder(sock), 0, keys, ("127.0.0.1", 9), IndexPool(16), IndexPool(16),
                              meeting=("t", "r"))
        _seal_and_read(link, RelayChannel(far.control_send, far.control_receive))


def _seal_and_read(link: RelayLink, reader: RelayChannel) -> None:
    assert link.tell_levels(("t", "other"), {"a": [90]}, 5) is None  # a meeting not on the link
    assert link.tell_levels(("t", "r"), {}, 7) is None and link.meetings[("t", "r")].levels_sent == 7
    batch = {f"p{i:02}": [72 + i % 50] * (MAX_LEVEL_VALUES + 3) for i in range(MAX_LEVEL_SPEAKERS + 10)}
    sealed = link.tell_levels(("t", "r"), batch, 9)
    assert sealed is not None and link.meetings[("t", "r")].levels_sent == 9
    told = RelayLevels.from_message(reader.open(sealed))  # what the far side takes: within its own bounds
    assert len(told.levels) == MAX_LEVEL_SPEAKERS
    assert min(v[0] for v in told.levels.values()) >= max(
        v[0] for p, v in batch.items() if p not in told.levels)  # the loudest
    assert all(len(v) == MAX_LEVEL_VALUES for v in told.levels.values())
