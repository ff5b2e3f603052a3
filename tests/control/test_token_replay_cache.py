"""signalling/tokens/verifying.py ReplayCache: a join token works once, and the cache forgets ids once their
tokens expired — a node that admits a session every 30 s for hours keeps a handful of ids, not all of them
(issue 18, node memory per session)."""

from __future__ import annotations

from signalling.tokens.verifying import ReplayCache

TTL = 60.0


def test_a_token_id_is_refused_again_until_its_token_expires() -> None:
    cache = ReplayCache()
    assert cache.use("a", exp=100.0 + TTL, now=100.0)
    assert not cache.use("a", exp=100.0 + TTL, now=130.0)
    assert not cache.use("a", exp=100.0 + TTL, now=159.0)


def test_a_node_with_churn_keeps_only_the_ids_of_tokens_still_alive() -> None:
    """Before the fix the cache swept only past 4096 ids: 500 sessions, 30 s apart, left 500 ids. After: the
    ids of tokens used within one lifetime (at most 3 here)."""
    cache = ReplayCache()
    for n in range(500):
        now = 1000.0 + 30.0 * n
        assert cache.use(f"jti-{n}", exp=now + TTL, now=now)
        kept = len(cache._seen)
        assert kept <= 3, f"{kept} ids kept after {n + 1} sessions"


def test_an_id_behind_a_longer_lived_token_is_still_refused_while_alive() -> None:
    cache = ReplayCache()
    assert cache.use("long", exp=10_000.0, now=0.0)  # a longer-lived token first
    assert cache.use("short", exp=60.0, now=1.0)
    assert not cache.use("short", exp=60.0, now=30.0)
    assert cache.use("next", exp=200.0, now=100.0)
    assert not cache.use("long", exp=10_000.0, now=100.0)
