"""The client address behind reverse proxies (signalling/control/clientaddr.py): X-Forwarded-For is read from the
right, only from a trusted peer, as nginx's realip and Envoy's xff_num_trusted_hops do — never the leftmost
entry, which the client writes itself (issue 18: that gave an attacker an unlimited budget and the power to
lock a victim's address)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from signalling.cli.entry import main as cli_main
from signalling.control.clientaddr import PRIVATE_NETWORKS, ForwardedRule, parse_address, parse_networks
from signalling.control.config import ControlConfig
from tests.control.cp_env import Env

INGRESS = ForwardedRule(parse_networks("10.0.0.0/8"), hops=1)


def test_the_client_cannot_choose_its_address_through_one_ingress() -> None:
    # the Ingress (10.0.0.2) appends the address it saw: that one counts, whatever the client wrote before it
    assert INGRESS.client("10.0.0.2", ["203.0.113.9"]) == "203.0.113.9"
    assert INGRESS.client("10.0.0.2", ["198.51.100.1, 203.0.113.9"]) == "203.0.113.9"
    assert INGRESS.client("10.0.0.2", ["198.51.100.1", "192.0.2.5, 203.0.113.9"]) == "203.0.113.9"
    assert INGRESS.client("10.0.0.2", ["10.1.2.3, 203.0.113.9"]) == "203.0.113.9"


def test_the_header_counts_only_from_a_trusted_peer() -> None:
    assert INGRESS.client("203.0.113.9", ["192.0.2.1"]) == "203.0.113.9"  # straight to the pod: ignored
    assert ForwardedRule().client("10.0.0.2", ["192.0.2.1"]) == "10.0.0.2"  # no trusted proxy configured
    assert INGRESS.client("10.0.0.2", []) == "10.0.0.2"  # a trusted peer that sent no header is the client


def test_hops_count_the_proxies_in_front() -> None:
    cdn = ForwardedRule(parse_networks("10.0.0.0/8"), hops=2)  # client -> CDN -> Ingress -> control plane
    assert cdn.client("10.0.0.2", ["6.6.6.6, 203.0.113.9, 198.18.0.1"]) == "203.0.113.9"
    assert cdn.client("10.0.0.2", ["203.0.113.9"]) == "203.0.113.9"  # the CDN was bypassed: the Ingress's entry


def test_recursive_mode_walks_past_every_trusted_proxy() -> None:
    walk = ForwardedRule(parse_networks("10.0.0.0/8, 192.168.0.0/16"), hops=0)
    assert walk.client("10.0.0.2", ["6.6.6.6, 203.0.113.9, 192.168.1.1, 10.3.0.1"]) == "203.0.113.9"
    assert walk.client("10.0.0.2", ["10.9.9.9, 10.3.0.1"]) == "10.9.9.9"  # all trusted: the leftmost


def test_junk_entries_stop_the_walk_at_the_last_vouched_address() -> None:
    walk = ForwardedRule(parse_networks("10.0.0.0/8"), hops=0)
    assert walk.client("10.0.0.2", ["203.0.113.9, unknown, 10.3.0.1"]) == "10.3.0.1"
    assert INGRESS.client("10.0.0.2", ["6.6.6.6, not-an-ip"]) == "10.0.0.2"
    assert INGRESS.client("10.0.0.2", ["x" * 10_000 + ", 203.0.113.9"]) == "203.0.113.9"
    assert INGRESS.client("10.0.0.2", [", ".join(["6.6.6.6"] * 5000) + ", 203.0.113.9"]) == "203.0.113.9"


def test_addresses_as_proxies_write_them() -> None:
    assert str(parse_address("203.0.113.9:4711")) == "203.0.113.9"
    assert str(parse_address("[2001:db8::1]:4711")) == "2001:db8::1"
    assert str(parse_address(" 2001:db8::1 ")) == "2001:db8::1"
    assert str(parse_address("::ffff:203.0.113.9")) == "203.0.113.9"
    assert parse_address("unknown") is None and parse_address("") is None and parse_address("1.2.3.4.5") is None
    v6 = ForwardedRule(parse_networks("fd00::/8"), hops=1)
    assert v6.client("fd00::2", ["2001:db8::7"]) == "2001:db8::7"
    assert v6.client("10.0.0.2", ["2001:db8::7"]) == "10.0.0.2"


def test_configuration() -> None:
    assert ControlConfig().forwarded_rule() == ForwardedRule()  # off by default
    on = ControlConfig(trust_forwarded_for=True).forwarded_rule()
    assert on.trusted == parse_networks(PRIVATE_NETWORKS) and on.hops == 1
    assert ControlConfig(trust_forwarded_for=True, trusted_proxies=("10.244.0.0/16",),
                         forwarded_hops=2).forwarded_rule() == ForwardedRule(parse_networks("10.244.0.0/16"), 2)
    with pytest.raises(ValueError, match="not an address or CIDR: 'ingress'"):
        ControlConfig(trust_forwarded_for=True, trusted_proxies=("ingress",)).forwarded_rule()
    with pytest.raises(ValueError, match="hops"):
        ControlConfig(trust_forwarded_for=True, forwarded_hops=-1).forwarded_rule()


def test_a_bad_trusted_proxies_flag_is_a_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CASTELLAN_TRUSTED_PROXIES", "10.0.0.0/8,ingress-nginx")
    with pytest.raises(SystemExit, match="not an address or CIDR: 'ingress-nginx'"):
        cli_main(["control-plane", "--db", str(tmp_path / "c.db"), "--trust-forwarded-for"])


def test_spoofed_headers_do_not_spread_one_attacker_over_many_addresses(env: Env) -> None:
    """Through the HTTP API: an attacker behind the Ingress spraying guesses over links, writing a new
    X-Forwarded-For each time, is still one address (backed off after five); one reaching the pod directly
    cannot pose as anyone, so cannot lock a victim's address either."""
    env.config.trust_forwarded_for, env.config.trusted_proxies = True, ("10.0.0.0/8",)
    links = [env.link(password="right horse battery")["link"] for _ in range(9)]
    via_ingress = TestClient(env.client.app, client=("10.0.0.2", 4000))
    codes = [via_ingress.post("/v1/join", json={"link": link, "name": "x", "password": "guess"},
                              headers={"X-Forwarded-For": f"192.0.2.{i}, 203.0.113.9"}).status_code
             for i, link in enumerate(links[:8])]
    assert codes == [401] * 5 + [429] * 3
    direct = TestClient(env.client.app, client=("198.51.100.77", 4000))
    for link in links[:5]:
        direct.post("/v1/join", json={"link": link, "name": "x", "password": "guess"},
                    headers={"X-Forwarded-For": "192.0.2.1"})
    victim = TestClient(env.client.app, client=("10.0.0.2", 4000))
    r = victim.post("/v1/join", json={"link": links[8], "name": "v", "password": "right horse battery"},
                    headers={"X-Forwarded-For": "192.0.2.1"})
    assert r.status_code == 200, r.text  # neither the spoofed 192.0.2.x nor the direct attacker charged it
    keys = {lo["key"] for lo in env.control.lockouts("acme") if lo["scope"] == "client"}
    assert keys == {"203.0.113.9", "198.51.100.77"}
