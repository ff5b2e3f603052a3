"""The small pieces under the join flow: signed link ids and the request bucket (passwords: test_passwords.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from signalling.control.linkids import LINK_LEN, LinkSigner
from signalling.control.ratelimit import RequestLimiter

SIGNER = LinkSigner(b"s" * 32)
VALID = SIGNER.new()


def test_link_ids_are_43_url_safe_characters_and_unique() -> None:
    ids = {SIGNER.new() for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) == LINK_LEN and SIGNER.verify(i) for i in ids)
    assert not LinkSigner(b"t" * 32).verify(VALID)


@settings(max_examples=300)
@given(pos=st.integers(0, LINK_LEN - 1), ch=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
def test_any_changed_character_breaks_the_signature(pos: int, ch: str) -> None:
    mutated = VALID[:pos] + ch + VALID[pos + 1:]
    assert SIGNER.verify(mutated) == (mutated == VALID)


@given(st.one_of(st.text(max_size=60), st.binary(max_size=60), st.none(), st.integers()))
def test_garbage_never_verifies_or_raises(junk: object) -> None:
    assert SIGNER.verify(junk) is False


def test_the_request_bucket_allows_a_burst_then_a_steady_rate() -> None:
    now = [0.0]
    bucket = RequestLimiter(rate=2.0, burst=3.0, clock=lambda: now[0])
    assert [bucket.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a") == 0.5
    assert bucket.take("b") == 0.0
    now[0] += 0.5
    assert bucket.take("a") == 0.0
