"""Shared test world for the residency stories: a fake clock, five regions, a node factory."""

from __future__ import annotations

from residency.model import Node, Region


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


REGIONS = {
    "eu-1": Region("eu-1", "EU", "Frankfurt, DE", "EU Central"),
    "eu-2": Region("eu-2", "EU", "Paris, FR", "EU West"),
    "ch-1": Region("ch-1", "CH", "Zurich, CH", "Switzerland"),
    "us-1": Region("us-1", "US", "Ashburn, US", "US East"),
    "au-1": Region("au-1", "AU", "Sydney, AU", "Australia"),
}


def make_node(node_id: str, region: str, load: float = 0.0, **kw: object) -> Node:
    kw.setdefault("http_url", f"http://127.0.0.1/{node_id}")
    return Node(id=node_id, region=region, public_ip="127.0.0.1", udp_port=40000,
                ws_url=f"ws://127.0.0.1/{node_id}/ws", load=load, **kw)  # type: ignore[arg-type]
