"""Issue 3, item 6: two real browsers (Debian Chromium via Playwright, fake camera and microphone) meet through
a node and each decodes the other's video. Everything runs in a network namespace that has only `lo`."""

from __future__ import annotations

import json

import pytest

from signalling.tokens import KeyRing, TokenIssuer
from tests.browser.netns import (
    ARTIFACTS,
    HTTP_PORT,
    loopback_namespace,
    node_in,
    run_driver,
    skip_unless_possible,
)

pytestmark = [pytest.mark.browser, pytest.mark.netns, pytest.mark.timeout(120)]



def test_two_chromium_instances_see_each_other_through_the_node():
    skip_unless_possible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    keys = KeyRing()
    jwks = ARTIFACTS / "two-browsers.jwks.json"
    jwks.write_text(json.dumps(keys.jwks()))
    issuer = TokenIssuer(keys)
    tokens = [
        issuer.mint(
            tenant="acme",
            room="browser-room",
            participant=f"chromium-{i}",
            region="local",
            node="node-1",
            name=f"Chromium {i}",
            ttl=120,
        )
        for i in (1, 2)
    ]
    with loopback_namespace() as ns, node_in(ns, "two-browsers", jwks_file=jwks) as node:
        result = run_driver(
            ns,
            "minimal_two",
            {
                "http_url": f"http://127.0.0.1:{HTTP_PORT}",
                "ws_url": f"ws://127.0.0.1:{HTTP_PORT}/ws",
                "tokens": tokens,
            },
            timeout=75,
            name="two-browsers",
        )
        node_log = node.output()
    assert "error" not in result, (
        result["error"]
        + "\nconsole:\n"
        + "\n".join(result.get("console", [])[-40:])
        + "\nnode:\n"
        + node_log[-4000:]
    )
    first, second = result["first"], result["second"]
    for i in range(2):
        assert first[i]["connection"] == "connected", first[i]
        assert len(second[i]["video"]) == 1, (
            f"participant {i + 1} should receive exactly the other's video: {second[i]}"
        )
        f1 = sum(v["framesDecoded"] for v in first[i]["video"])
        f2 = sum(v["framesDecoded"] for v in second[i]["video"])
        assert f1 > 0 and f2 >= f1 + 30, f"participant {i + 1}: framesDecoded {f1} -> {f2} in 3 s"
        assert second[i]["video"][0]["frameWidth"] > 0
        assert sum(a["packetsReceived"] for a in second[i]["audio"]) > 50, second[i]["audio"]
    # loopback only: every candidate either side is 127.0.0.1 / ::1
    for cands in result["candidates"]:
        assert cands, "no candidates reported"
        for c in cands:
            addr = c.split()[1].rsplit(":", 1)[0]
            assert addr in ("127.0.0.1", "::1", "[::1]"), f"non-loopback candidate: {c}"
    for path in result["screenshots"]:
        assert (ARTIFACTS / path.rsplit("/", 1)[-1]).stat().st_size > 1000
