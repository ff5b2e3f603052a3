"""The engine's interface at run time: the compiled engine, its threaded wrapper and the pure-Python reference
expose exactly the methods of native.interface.EngineApi (mypy checks their signatures: native/conformance.py);
the threaded wrapper locks exactly EngineControl's; the stub names what the module holds; constants are one."""

from __future__ import annotations

import ast
import socket
from pathlib import Path

import pytest

from native import constants
from native import reference as ref
from native.interface import EngineApi, EngineControl, members

engine = pytest.importorskip("native.engine")

from native.conformance import IMPLEMENTATIONS  # noqa: E402  (needs the compiled engine)
from native.threaded import LOCKED, ThreadedEngine  # noqa: E402

STUB = Path(engine.__file__).with_name("engine.pyi")


def public_methods(cls: type) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("_") and callable(getattr(cls, n))}


def test_the_protocol_lists_every_method_the_engine_has() -> None:
    assert set(members(EngineApi)) == public_methods(engine.Engine)
    assert len(members(EngineApi)) == 38


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_each_implementation_exposes_the_same_method_set(cls: type) -> None:
    assert public_methods(cls) == set(members(EngineApi))


def test_the_threaded_engine_locks_exactly_the_control_methods() -> None:
    assert LOCKED == members(EngineControl)
    assert set(LOCKED) == set(members(EngineApi)) - {"poll", "serve", "stop_serving"}
    own = {n for n in vars(ThreadedEngine) if not n.startswith("_")}
    assert own == set(LOCKED)
    for name in LOCKED:
        wrapped = getattr(ThreadedEngine, name)
        assert wrapped is not getattr(engine.Engine, name) and wrapped.__name__ == name
        assert wrapped.__doc__ == getattr(engine.Engine, name).__doc__
    for name in ("poll", "serve", "stop_serving"):      # they take the lock themselves, once per batch
        assert getattr(ThreadedEngine, name) is getattr(engine.Engine, name)


def test_a_locked_call_goes_through() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        e = ThreadedEngine(s.fileno(), 4, 4, 4, False)
        e.add_peer(1)
        assert e.twcc_state(1) == (0, 0, 0)
        assert e.counters()["forwarded_packets"] == 0


def test_the_stub_names_what_the_module_holds() -> None:
    tree = ast.parse(STUB.read_text())
    stub: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            stub.add(node.name)
        elif isinstance(node, ast.ImportFrom) and node.module == "native.constants":
            stub.update(a.asname or a.name for a in node.names)
    module = {n for n in dir(engine) if not n.startswith("_")}
    assert stub == module


def test_the_stub_methods_match_the_compiled_classes() -> None:
    tree = ast.parse(STUB.read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            declared = {f.name for f in node.body if isinstance(f, ast.FunctionDef) and not f.name.startswith("__")}
            compiled = {n for n in dir(getattr(engine, node.name)) if not n.startswith("__")}
            assert declared == compiled, node.name


def test_constants_are_defined_once() -> None:
    for name in constants.__all__:
        assert getattr(engine, name) == getattr(constants, name), name
    for name in ("CODEC_VP8", "EV_RTCP", "DROP_REASONS", "LAYER_ALL", "MAX_RTP"):
        assert getattr(ref, name) is getattr(constants, name)
    from sfu.negotiation.publications import CODEC_IDS  # what the node gives the engine

    assert CODEC_IDS is constants.CODEC_IDS
    # the compiled values are the enum constants the per-packet path uses: a VP8 keyframe is one only as VP8
    key = bytes([0x10, 0x00, 0x00, 0x9D, 0x01, 0x2A]) + bytes(10)
    assert engine.py_is_keyframe(constants.CODEC_VP8, key) == ref.is_keyframe(constants.CODEC_VP8, key)


def test_the_reference_refuses_layer_control_it_does_not_model() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fwd = ref.ReferenceForwarder(s)
        for call in (lambda: fwd.switch_layer(0, 1), lambda: fwd.set_temporal(0, 1), lambda: fwd.set_svc(0, 1),
                     lambda: fwd.track_layers(0)):
            with pytest.raises(NotImplementedError):
                call()
        assert fwd.latency_histogram() == [0] * constants.HIST_BUCKETS
