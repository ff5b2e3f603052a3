"""Property tests for the node's ICE-lite STUN parser (sfu/transport/ice.py): whatever datagram arrives, the
answer is a STUN outcome — never an exception, and random bytes never authenticate."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sfu.transport.ice import IceLite


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_datagram_is_a_stun_outcome_never_an_exception(data):
    ice: IceLite[str] = IceLite()
    ice.register("abcd", "p" * 24, "someone")
    out = ice.handle(data, ("127.0.0.1", 5000))
    assert out.owner is None  # random bytes never authenticate


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_stun_with_a_valid_header_and_random_attributes_is_handled(body):
    import struct
    ice: IceLite[str] = IceLite()
    ice.register("abcd", "p" * 24, "someone")
    pad = body + b"\x00" * (-len(body) % 4)
    data = struct.pack("!HHI12s", 0x0001, len(pad), 0x2112A442, b"x" * 12) + pad
    assert ice.handle(data, ("127.0.0.1", 5000)).owner is None
