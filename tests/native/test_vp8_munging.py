"""VP8 picture ids continue across simulcast switches: the native rewrite equals the reference, and a switch
continues from the last id sent."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from native.engine import py_munge_vp8
from native.reference import munge_vp8


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=12), st.integers(0, 0xFFFF), st.integers(0, 0xFF), st.booleans(),
       st.integers(0, 0x7FFF), st.integers(0, 0xFF))
def test_native_equals_reference(payload, pid_off, tl0_off, resync, last_pid, last_tl0):
    assert py_munge_vp8(payload, pid_off, tl0_off, resync, last_pid, last_tl0) == \
        munge_vp8(payload, pid_off, tl0_off, resync, last_pid, last_tl0)


def descriptor(pid: int, tl0: int) -> bytes:
    # X=1 S=1 PID=0 | I=1 L=1 | M=1 pid(15) | tl0 | then a VP8 payload byte
    return bytes([0x90, 0xC0, 0x80 | (pid >> 8), pid & 0xFF, tl0, 0x9D])


def test_a_switch_continues_from_the_last_sent_ids():
    out, last_pid, last_tl0 = py_munge_vp8(descriptor(1000, 17), 0, 0, False, 0, 0)
    assert (last_pid, last_tl0) == (1000, 17)
    # the new layer's ids are unrelated; after the switch they follow on from 1000 / 17
    out, last_pid, last_tl0 = py_munge_vp8(descriptor(31000, 200), 0, 0, True, last_pid, last_tl0)
    assert (last_pid, last_tl0) == (1001, 18)
    assert out[2:5] == bytes([0x80 | (1001 >> 8), 1001 & 0xFF, 18])
