"""A joiner's region hint from the regional ingress it reached (signalling/control/regionhint.py; docs/architecture.md,
"Cascading"): the header the operator's ingresses set counts only from a trusted proxy, wins over the client's own
`region_hint`, and — whatever a client forges, header or hint — placement stays within the tenant's allowed regions.

The deployment: eu-1 (the meeting's home) and eu-2, both allowed for the EU tenant; us-1, refused, with an idle
node that would win on load alone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY
from starlette.testclient import TestClient

from signalling.cli.entry import main as cli_main
from signalling.control.clientaddr import ForwardedRule, parse_networks
from signalling.control.regionhint import (
    CLIENT,
    INGRESS,
    MALFORMED,
    NONE,
    UNTRUSTED,
    RegionHint,
    header_name,
    region_hint,
)
from tests.control.cp_env import Clock, Env, make_env, two_eu_regions

HEADER = "X-Castellan-Region"
INGRESSES = "10.0.0.0/8"


def regional(env: Env) -> None:
    """Two EU regions and a refused US one (cp_env.two_eu_regions); the ingresses (10/8) trusted to set HEADER."""
    two_eu_regions(env)
    env.config.trust_forwarded_for, env.config.trusted_proxies = True, (INGRESSES,)
    env.config.region_header = header_name(HEADER)


@pytest.fixture
def eu(tmp_path: Any, clock: Clock) -> Iterator[Env]:
    e = make_env(tmp_path, clock)
    regional(e)
    yield e
    e.control.close()


def via(env: Env, address: str) -> TestClient:
    return TestClient(env.client.app, client=(address, 4000))


def join(client: TestClient, link: str, headers: Any = None, **body: Any) -> dict[str, Any]:
    r = client.post("/v1/join", json={"link": link, "name": "Ada", **body}, headers=headers or {})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def where(env: Env, answer: dict[str, Any]) -> tuple[str, str]:
    """(node, region) as the signed token says (what the node enforces), checked against the answer's node."""
    claims = env.verifier(answer["node"]).verify(answer["token"])
    assert claims.node == answer["node"]
    return claims.node, claims.region


def count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_each_joiner_is_placed_in_the_region_of_the_ingress_it_reached(eu: Env) -> None:
    """Participants reaching the eu-1 and eu-2 ingresses: the room is placed where the first one came in (its home)
    and the eu-2 participant on eu-2's node (which relays with the home); the eu-1 one stays home."""
    link = eu.link(no_password=True)["link"]
    before = count("castellan_join_region_hints_total", source=INGRESS)
    assert where(eu, join(via(eu, "10.0.0.2"), link, {HEADER: "eu-1"})) == ("node-eu-1", "eu-1")
    assert where(eu, join(via(eu, "10.0.0.3"), link, {HEADER: "eu-2"})) == ("node-eu-2", "eu-2")
    assert where(eu, join(via(eu, "10.0.0.2"), link, {HEADER: "eu-1"})) == ("node-eu-1", "eu-1")
    assert count("castellan_join_region_hints_total", source=INGRESS) == before + 3
    assert eu.residency.get_placement("acme", eu.control.get_link("acme", link).room).node == "node-eu-1"


def test_a_first_joiner_from_eu_2_places_the_meeting_there(eu: Env) -> None:
    link = eu.link(no_password=True)["link"]
    assert where(eu, join(via(eu, "10.0.0.3"), link, {HEADER: "eu-2"})) == ("node-eu-2", "eu-2")
    assert where(eu, join(via(eu, "10.0.0.2"), link)) == ("node-eu-2", "eu-2")  # no hint: no new relay


def test_a_header_from_a_client_that_is_not_a_trusted_proxy_is_ignored_and_counted(eu: Env) -> None:
    """A client reaching the control plane directly writes the header itself: it counts for nothing — the
    participant joins where the meeting already is — and the attempt shows in the metrics."""
    link = eu.link(no_password=True)["link"]
    join(via(eu, "10.0.0.2"), link, {HEADER: "eu-1"})
    before = count("castellan_region_headers_ignored_total", reason=UNTRUSTED)
    direct = via(eu, "198.51.100.77")
    assert where(eu, join(direct, link, {HEADER: "eu-2"})) == ("node-eu-1", "eu-1")
    assert count("castellan_region_headers_ignored_total", reason=UNTRUSTED) == before + 1


def test_the_ingress_header_wins_over_the_clients_own_hint(eu: Env) -> None:
    link = eu.link(no_password=True)["link"]
    join(via(eu, "10.0.0.2"), link, {HEADER: "eu-1"})
    assert where(eu, join(via(eu, "10.0.0.3"), link, {HEADER: "eu-2"}, region_hint="eu-1"))[0] == "node-eu-2"
    # without a believed header the client's own preference counts (within the allowed regions)
    before = count("castellan_join_region_hints_total", source=CLIENT)
    assert where(eu, join(via(eu, "198.51.100.77"), link, {HEADER: "eu-1"}, region_hint="eu-2"))[0] == "node-eu-2"
    assert count("castellan_join_region_hints_total", source=CLIENT) == before + 1


@pytest.mark.parametrize("first", ["us-1", None])
def test_no_forged_header_or_hint_reaches_a_region_the_tenant_refuses(eu: Env, first: str | None) -> None:
    """The attacker: us-1 is refused by the tenant's policy and has the only idle node. Forging the header directly,
    through an ingress that (misconfigured) passes the client's header on, or the body's hint — as the meeting's
    first joiner or a later one — always lands on an allowed region's node, never us-1's."""
    link = eu.link(no_password=True)["link"]
    if first is None:
        join(via(eu, "10.0.0.2"), link, {HEADER: "eu-1"})
    forgeries: list[tuple[str, dict[str, str], dict[str, str]]] = [
        ("10.0.0.2", {HEADER: "us-1"}, {}),  # a trusted ingress that did not overwrite the client's header
        ("198.51.100.77", {HEADER: "us-1"}, {}),  # straight to the control plane
        ("198.51.100.77", {}, {"region_hint": "us-1"}),  # the body's hint
        ("10.0.0.2", {HEADER: "us-1"}, {"region_hint": "us-1"}),
        ("198.51.100.77", {HEADER: "us-1"}, {"region_hint": "us-1"}),
    ]
    for address, headers, body in forgeries:
        node, region = where(eu, join(via(eu, address), link, headers, **body))
        assert region in {"eu-1", "eu-2"} and node != "node-us-1", (address, headers, body)
    # and the forged region was never where the meeting went
    assert eu.residency.get_placement("acme", eu.control.get_link("acme", link).room).region == "eu-1"


def test_malformed_headers_are_ignored_and_counted(eu: Env) -> None:
    """Two header lines (a proxy that appended), a list, junk: not believed, counted; the body's hint (or none)
    decides."""
    link = eu.link(no_password=True)["link"]
    join(via(eu, "10.0.0.2"), link, {HEADER: "eu-1"})
    ingress = via(eu, "10.0.0.3")
    before = count("castellan_region_headers_ignored_total", reason=MALFORMED)
    for headers in ([(HEADER, "eu-2"), (HEADER, "eu-1")], {HEADER: "eu-2, eu-1"}, {HEADER: "EU-2!"},
                    {HEADER: "x" * 300}):
        assert where(eu, join(ingress, link, headers))[0] == "node-eu-1"
    assert count("castellan_region_headers_ignored_total", reason=MALFORMED) == before + 4
    assert where(eu, join(ingress, link, [(HEADER, "eu-1"), (HEADER, "eu-1")], region_hint="eu-2"))[0] == "node-eu-2"


def test_without_a_configured_header_nothing_is_read(eu: Env) -> None:
    eu.config.region_header = None
    link = eu.link(no_password=True)["link"]
    join(via(eu, "10.0.0.2"), link)
    before = count("castellan_join_region_hints_total", source=NONE)
    assert where(eu, join(via(eu, "10.0.0.3"), link, {HEADER: "eu-2"}))[0] == "node-eu-1"
    assert count("castellan_join_region_hints_total", source=NONE) == before + 1


def test_a_participant_admitted_from_the_lobby_keeps_the_region_it_came_in_by(eu: Env) -> None:
    link = eu.link(no_password=True, lobby=True)
    host = {"X-Host-Key": link["host_key"]}
    join(via(eu, "10.0.0.2"), link["link"], {HEADER: "eu-1"}, host_key=link["host_key"])
    r = via(eu, "10.0.0.3").post("/v1/join", json={"link": link["link"], "name": "Bo"}, headers={HEADER: "eu-2"})
    assert r.status_code == 202, r.text
    ticket = r.json()["ticket"]
    assert eu.client.post(f"/v1/links/{link['link']}/lobby/{ticket}", json={"decision": "admit"},
                            headers=host).status_code == 200
    # the poll comes from anywhere (even straight to the control plane): the region is the one it knocked from
    answer = via(eu, "198.51.100.77").get(f"/v1/lobby/{ticket}").json()
    assert where(eu, answer) == ("node-eu-2", "eu-2")


def test_the_rule() -> None:
    rule = ForwardedRule(parse_networks(INGRESSES), hops=1)
    assert region_hint(rule, "10.0.0.2", ["eu-2"], None).region == "eu-2"
    assert region_hint(rule, "10.0.0.2", [" eu-2 "], "eu-1").source == INGRESS
    assert region_hint(rule, "192.0.2.1", ["eu-2"], None) == RegionHint(None, NONE, UNTRUSTED)
    untrusted = region_hint(rule, "192.0.2.1", ["eu-2"], "eu-1")
    assert (untrusted.region, untrusted.source, untrusted.ignored) == ("eu-1", CLIENT, UNTRUSTED)
    assert region_hint(ForwardedRule(), "10.0.0.2", ["eu-2"], None).ignored == UNTRUSTED  # no proxy is trusted
    assert region_hint(rule, "not an address", ["eu-2"], None).ignored == UNTRUSTED
    assert region_hint(rule, "10.0.0.2", None, None) == region_hint(rule, "10.0.0.2", [], None)
    assert region_hint(rule, "10.0.0.2", [], None).source == NONE


def test_the_header_name() -> None:
    assert header_name("X-Castellan-Region") == "x-castellan-region"
    for bad in ("X-Forwarded-For", "Host", "x region", "", "-x", "x" * 65, "X_Region"):
        with pytest.raises(ValueError):
            header_name(bad)


def test_the_flag_needs_trusted_proxies_and_a_header_name(tmp_path: Any) -> None:
    db = str(tmp_path / "c.db")
    with pytest.raises(SystemExit, match="needs --trust-forwarded-for"):
        cli_main(["control-plane", "--db", db, "--region-header", HEADER])
    with pytest.raises(SystemExit, match="--region-header: 'X-Forwarded-For' already means something else"):
        cli_main(["control-plane", "--db", db, "--trust-forwarded-for", "--region-header", "X-Forwarded-For"])
