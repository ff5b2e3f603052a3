"""The fuzz targets, by name: `tests.fuzz.<name>` is the module, `tests/fuzz/corpus/<name>/` its corpus."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"

# native (differential: the Cython engine and native.reference agree or both refuse) first, then the node's
# Python parsers, then the control plane's
TARGETS = (
    "rtp",            # RTP header + RFC 8285 extensions, rewrite, RTX: engine vs reference
    "codec_payload",  # VP8/VP9 descriptors, layer info, keyframes, VP8 munging: engine vs reference
    "layer_stream",   # a packet stream through one subscription's layer filter + rewrite: engine vs reference
    "engine_path",    # datagrams through the engine's socket path (SRTP, demux, forward): Engine vs ReferenceForwarder
    "rtcp",           # sfu.feedback.rtcp.parse_compound (+ re-serialisation of what it parsed)
    "twcc",           # transport-cc feedback -> sfu.congestion.twcc.FeedbackReader
    "stun",           # sfu.transport.ice.IceLite.handle with real credentials
    "dtls_records",   # sfu.transport.dtls.DtlsSession.feed (server and client side)
    "sdp",            # sfu.negotiation.sdp.parse + negotiate + build_answer
    "offer",          # Node.handle_offer on a real node with the native engine
    "node_ws",        # the node's WebSocket signalling session (NodeSignalling over ASGI)
    "control_body",   # control-plane request bodies (read_json + every ObjectSpec)
    "join_token",     # signalling.tokens TokenVerifier.verify / verify_admin
    "link_id",        # signalling.control.linkids.LinkSigner.verify + the LINK_ID field spec
    "node_origin",    # signalling.control.csp: node origins (configured, or registry records) into the CSP
)

NATIVE_TARGETS = ("rtp", "codec_payload", "layer_stream", "engine_path")


def check_function(name: str) -> Callable[[bytes], None]:
    if name not in TARGETS:
        raise KeyError(f"unknown fuzz target {name!r} (known: {', '.join(TARGETS)})")
    check: Callable[[bytes], None] = importlib.import_module(f"tests.fuzz.{name}").check
    return check


def corpus_files(name: str) -> list[Path]:
    d = CORPUS / name
    return sorted(p for p in d.iterdir() if p.is_file()) if d.is_dir() else []
