"""How long a link waits on a peer that does not answer (sfu/cascade/stall.py): a hostile node that stalls on
purpose holds the other side's link for at most `GRACE` seconds and `MAX_BACKLOG` messages (`MAX_BACKLOG_BYTES`)
— never unbounded state — and an answer starts the count again."""

from __future__ import annotations

from sfu.cascade.stall import GRACE, MAX_BACKLOG, MAX_BACKLOG_BYTES, Stall


def test_a_peer_that_never_answers_is_given_up_after_the_grace() -> None:
    s = Stall()
    assert s.waits(100.0, 3) and s.waits(100.0 + GRACE - 0.1, 3)
    assert not s.waits(100.0 + GRACE, 3)  # from its first unanswered post, however many retries came between


def test_an_answer_starts_the_wait_again() -> None:
    s = Stall()
    assert s.waits(100.0, 1)
    s.answered()
    assert s.waits(100.0 + GRACE + 5, 1) and s.since == 100.0 + GRACE + 5


def test_a_backlog_past_its_bound_gives_the_peer_up_at_once() -> None:
    assert Stall().waits(0.0, MAX_BACKLOG) and not Stall().waits(0.0, MAX_BACKLOG + 1)
    assert Stall().waits(0.0, 1, MAX_BACKLOG_BYTES) and not Stall().waits(0.0, 1, MAX_BACKLOG_BYTES + 1)
