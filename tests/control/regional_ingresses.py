"""The world of docs/deploy.md's "Region hints" that tests/control/test_region_ingress.py (plain HTTP) and
tests/browser/test_region_ingress.py (Chromium) both stand in: a control plane that trusts the ingresses (they
connect from `PROXY`) and reads `HEADER`, the two EU regions' nodes and an idle us-1 node the tenant refuses
(tests/control/cp_env.py), and one nginx per region in front of it setting `HEADER` as the chart's regional
Ingresses do."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from signalling.control.config import ControlConfig
from signalling.control.regionhint import header_name
from tests.control.cp_env import Env, make_env, two_eu_regions
from tests.support import nginx
from tests.support.ports import free_ports

HEADER = "X-Castellan-Region"
PROXY = "127.0.0.2"  # the ingresses' source address: the control plane's only trusted proxy


def trusting_env(tmp_path: Path) -> Env:
    """A control plane that trusts `PROXY` for X-Forwarded-For and `HEADER`, with cp_env's two EU regions."""
    def trust_the_ingresses(config: ControlConfig) -> None:
        config.trust_forwarded_for, config.trusted_proxies = True, (f"{PROXY}/32",)
        config.region_header = header_name(HEADER)

    env = make_env(tmp_path, configure=trust_the_ingresses)
    two_eu_regions(env)
    return env


@contextmanager
def regional_ingresses(directory: Path, control_plane: str) -> Iterator[dict[str, str]]:
    """nginx as eu-1's and eu-2's ingresses in front of `control_plane` (its access log in `directory`); yields
    each region's ingress URL on loopback."""
    ports = dict(zip(("eu-1", "eu-2"), free_ports(2), strict=True))
    proxy = nginx.start(nginx.regional(directory, control_plane=control_plane, header=HEADER, bind=PROXY,
                                       ingresses=ports))
    try:
        yield {region: f"http://127.0.0.1:{port}" for region, port in ports.items()}
    finally:
        proxy.stop()


def placed(env: Env, answer: dict[str, Any]) -> tuple[str, str]:
    """The node and region the join answer's signed token names (what the client was given, not what it said)."""
    claims = env.verifier(answer["node"]).verify(answer["token"])
    return claims.node, claims.region
