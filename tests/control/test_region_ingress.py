"""Region hints through real proxies (docs/deploy.md, "Region hints"): two nginx servers on loopback act as the eu-1
and eu-2 ingresses, each setting X-Castellan-Region to its region as the chart's regional Ingresses do, in front
of a control plane served by uvicorn that trusts them (they connect from 127.0.0.2) and knows a node in each region
(and an idle one in us-1, which the tenant refuses). A participant is placed on the node of the region whose
ingress it came through; what a client writes — the header, the body's hint — neither beats nginx's header nor
reaches us-1; the same header sent straight to the control plane (from 127.0.0.1, not a trusted proxy) is
ignored. Heavy (an nginx process): run under `flock /tmp/castellan-heavy.lock`."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.control.cp_env import Env, beat
from tests.control.live import serve
from tests.control.regional_ingresses import HEADER, placed, regional_ingresses, trusting_env

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
                                reason="nginx is not installed")


def post(env: Env, url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    """POST /v1/join at `url`; the nodes heartbeat first (their registrations live 6 s on the real clock)."""
    beat(env)
    req = urllib.request.Request(url + "/v1/join", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as e:
        raise AssertionError(f"{e.code} {e.read()[:500]!r}") from None


def test_joins_through_each_regional_nginx_are_placed_on_their_regions_node(tmp_path: Path) -> None:
    env = trusting_env(tmp_path)
    link = env.link(no_password=True)["link"]
    try:
        with serve(env.client.app) as control_plane, regional_ingresses(tmp_path / "ingresses", control_plane) as ing:
            eu1, eu2 = ing["eu-1"], ing["eu-2"]
            me = {"link": link, "name": "Ada"}
            assert placed(env, post(env, eu1, me)) == ("node-eu-1", "eu-1")  # the meeting's home
            assert placed(env, post(env, eu2, me)) == ("node-eu-2", "eu-2")  # through eu-2: eu-2's node
            # a client through eu-1 forging the header and the hint (us-1, refused; eu-2, allowed): nginx's
            # header is what the control plane reads
            for forged in ("us-1", "eu-2"):
                answer = post(env, eu1, {**me, "region_hint": forged}, {HEADER: forged})
                assert placed(env, answer) == ("node-eu-1", "eu-1"), forged
            # straight to the control plane (127.0.0.1 is no trusted proxy): the header is ignored; the hint
            # towards a refused region lands on the meeting's home, never us-1
            assert placed(env, post(env, control_plane, me, {HEADER: "eu-2"})) == ("node-eu-1", "eu-1")
            assert placed(env, post(env, control_plane, {**me, "region_hint": "us-1"}, {HEADER: "us-1"}))[1] == "eu-1"
            log = (tmp_path / "ingresses" / "access.log").read_text()
            assert log.count("POST /v1/join") == 4, log  # every ingress join really went through nginx
    finally:
        env.control.close()
