"""Region hints with Debian's Chromium (docs/deploy.md, "Region hints"): the join page opened through the eu-2
nginx ingress (which sets X-Castellan-Region, as the chart's regional Ingresses do) is given eu-2's node, through
eu-1's the meeting's home; a production page ignores `?region=` (a crafted link cannot steer a victim), a
development build sends it as the join's `region_hint` — which still cannot leave the tenant's allowed regions.
The nodes are registry records only: what is checked is the join answer the page received (the node the signed
token names), not the media that follows. Heavy (Chromium, nginx): run under `flock /tmp/castellan-heavy.lock`."""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from signalling.control.app import create_app
from tests.browser.driver import CHROMIUM_ARGS
from tests.console.harness import CHROMIUM
from tests.control.cp_env import Env, beat
from tests.control.live import serve
from tests.control.regional_ingresses import placed, regional_ingresses, trusting_env

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM} (scripts/setup.sh --test installs it)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def join_answer(env: Env, browser: Browser, url: str) -> dict[str, Any]:
    """Opens `url` (a meeting link), joins as "Ada" and returns the body of the page's first POST /v1/join (and
    the body it sent). The nodes heartbeat first: their registrations live 6 s."""
    beat(env)
    ctx = browser.new_context()
    ctx.set_default_timeout(30000)
    try:
        page = ctx.new_page()
        page.goto(url, wait_until="load")
        page.fill("#name", "Ada")
        with page.expect_response(lambda r: r.url.endswith("/v1/join") and r.request.method == "POST") as info:
            page.click("#join-button")
        response = info.value
        assert response.status == 200, response.text()
        sent = json.loads(response.request.post_data or "{}")
        return {**response.json(), "sent": sent}
    finally:
        ctx.close()


def test_the_browser_is_placed_in_the_region_of_the_ingress_it_reached(browser: Browser, tmp_path: Path) -> None:
    env = trusting_env(tmp_path)
    link = env.link(no_password=True)["link"]
    fragment = "#k=" + secrets.token_urlsafe(32)
    dev_app = create_app(dataclasses.replace(env.config, dev_client=True), control=env.control)
    try:
        with serve(env.client.app) as control_plane, serve(dev_app) as dev, \
                regional_ingresses(tmp_path / "ingresses", control_plane) as ingresses:
            eu1, eu2 = ingresses["eu-1"], ingresses["eu-2"]
            first = join_answer(env, browser, f"{eu1}/j/{link}{fragment}")
            assert placed(env, first) == ("node-eu-1", "eu-1")  # the meeting's home
            assert "region_hint" not in first["sent"]  # a production page sends none of its own
            assert placed(env, join_answer(env, browser, f"{eu2}/j/{link}{fragment}")) == ("node-eu-2", "eu-2")
            # a crafted production link through eu-1 naming eu-2: ignored, the ingress's region stands
            crafted = join_answer(env, browser, f"{eu1}/j/{link}?region=eu-2{fragment}")
            assert "region_hint" not in crafted["sent"] and placed(env, crafted) == ("node-eu-1", "eu-1")
            # a development build sends ?region= as the hint (no ingress in front: it counts) ...
            hinted = join_answer(env, browser, f"{dev}/j/{link}?region=eu-2{fragment}")
            assert hinted["sent"]["region_hint"] == "eu-2" and placed(env, hinted) == ("node-eu-2", "eu-2")
            # ... and one naming us-1 (refused, with the only idle node) lands on an allowed region's node
            refused = join_answer(env, browser, f"{dev}/j/{link}?region=us-1{fragment}")
            assert refused["sent"]["region_hint"] == "us-1" and placed(env, refused)[1] in {"eu-1", "eu-2"}
    finally:
        env.control.close()
