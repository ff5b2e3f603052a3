"""The cascade benchmark at tiny scale (loadtests/bench/cascade.py; 1 s rows): real engines on their media
threads, a real relay handshake, one relay. Proves the harness and the one-copy-per-remote-node property in
bytes, never how fast anything is (no timing assertions)."""

from __future__ import annotations

import pytest

pytest.importorskip("native.engine")

from loadtests.bench.cascade import run_row, table  # noqa: E402


@pytest.mark.timeout(60)
def test_a_relay_carries_one_copy_and_the_far_subscribers_get_everything() -> None:
    rows = [run_row(relays, local=3, remote=3, duration=1.0, warmup=0.3) for relays in (0, 2)]
    print(table(rows))
    base, cascade = rows
    assert base.link_mbps == 0 and base.relay_p50_us is None and base.local_p50_us is not None
    # each link carries the publisher's stream once (AES-GCM's tag is 6 bytes longer than HMAC-SHA1-80's), not
    # once per subscriber on the far node
    assert 0.9 * cascade.a_rx_mbps <= cascade.link_mbps <= 1.1 * cascade.a_rx_mbps, cascade
    assert cascade.relay_p50_us is not None and cascade.local_p50_us is not None
    # the whole stream reached every subscriber, on A and on both remote nodes (bounded wait inside run_row)
    assert cascade.expected > 0 and cascade.lost <= cascade.expected // 100, cascade
