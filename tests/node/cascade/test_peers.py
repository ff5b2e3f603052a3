"""Which nodes a node may relay a meeting to (sfu/cascade/peers.py): keys from the control plane's real
`/.well-known/castellan-node-keys.json` (public halves only), records only when an enrolled key of their region
vouches for them. A record written into the registry by someone who is not that node — unsigned, signed by an
unenrolled key, claiming another region, or copying a genuine node's id with another key — is not believed, so
the relay handshake refuses it (`relay_identity_mismatch` / `relay_key_unknown`)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from residency.errors import RelayRefused
from residency.identity import NodeSigner, enrolled_key, public_text
from residency.relay import RelayEndpoint
from sfu.cascade.peers import Believed, believe_records, parse_node_keys
from tests.control.cp_env import make_env
from tests.residency.residency_world import make_node


def test_keys_from_the_control_plane_and_only_vouched_records_are_believed(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    try:
        env.residency.define_region("eu-2", "EU", "Paris, FR", "EU West", actor="operator")
        eu1, eu2, us1, rogue = (Ed25519PrivateKey.generate() for _ in range(4))
        for region, key in (("eu-1", eu1), ("eu-2", eu2), ("us-1", us1)):
            env.residency.enroll_node_key(region, public_text(key), actor="operator")
        r = env.client.get("/.well-known/castellan-node-keys.json")
        assert r.status_code == 200 and r.headers["cache-control"].startswith("public")
        doc = r.json()
        assert {k["region"] for k in doc["keys"]} == {"eu-1", "eu-2", "us-1"}
        assert all(set(k) == {"key_id", "region", "public_key"} for k in doc["keys"])  # not who enrolled them
        believed = parse_node_keys(doc)
        assert len(believed.keys) == 3 and not believed.rejected
        now = time.time()
        genuine = [NodeSigner(eu1).sign(make_node("eu-1-a", "eu-1"), now),
                   NodeSigner(eu2).sign(make_node("eu-2-a", "eu-2"), now),
                   NodeSigner(us1).sign(make_node("us-1-a", "us-1"), now)]
        forged = [
            make_node("eu-1-x", "eu-1"),                                      # unsigned
            NodeSigner(rogue).sign(make_node("eu-1-y", "eu-1"), now),         # unenrolled key
            NodeSigner(us1).sign(make_node("us-1-b", "eu-1"), now),           # a US key claiming eu-1
            NodeSigner(rogue).sign(make_node("eu-2-a", "eu-2"), now),         # a genuine node's id, another key
            replace(genuine[0], public_ip="203.0.113.66"),                    # a genuine record, readdressed
            NodeSigner(eu1).sign(make_node("eu-1-old", "eu-1"), now - 120),   # stale
        ]
        believe_records([*genuine, *forged], believed, now=now, max_age=30)
        assert set(believed.nodes) == {"eu-1-a", "eu-2-a", "us-1-a"}
        assert believed.nodes["eu-2-a"].key_id == genuine[1].key_id
        assert believed.nodes["eu-1-a"].public_ip == "127.0.0.1"
        assert sum(believed.rejected.values()) == len(forged), believed.rejected
        # the handshake then refuses the rogue posing as eu-2-a, and accepts the genuine one
        allowed = frozenset({"eu-1", "eu-2"})
        a = RelayEndpoint("eu-1-a", "eu-1", eu1)
        with pytest.raises(RelayRefused) as e:
            a.accept(RelayEndpoint("eu-2-a", "eu-2", rogue).offer("acme", "r", "eu-1-a", now).offer,
                     keys=believed.keys, nodes=believed.nodes, allowed=allowed, now=now)
        assert e.value.code == "relay_key_unknown"
        a.accept(RelayEndpoint("eu-2-a", "eu-2", eu2).offer("acme", "r", "eu-1-a", now).offer,
                 keys=believed.keys, nodes=believed.nodes, allowed=allowed, now=now)
    finally:
        env.control.close()


def test_a_bad_key_document_is_counted_never_a_crash() -> None:
    good = public_text(Ed25519PrivateKey.generate())
    other = public_text(Ed25519PrivateKey.generate())
    kid = enrolled_key("eu-1", good, actor="x", at=0).key_id
    for doc in (None, [], {"keys": "x"}, {"keys": [{}] * 10_001}):
        assert parse_node_keys(doc).rejected == {"node_keys_malformed": 1}
    b = parse_node_keys({"keys": [7, {"key_id": kid}, {"key_id": kid, "region": "eu-1", "public_key": "AAAA"},
                                  {"key_id": kid, "region": "EU 1!", "public_key": good},
                                  {"key_id": kid, "region": "eu-1", "public_key": other},
                                  {"key_id": kid, "region": "eu-1", "public_key": good}]})
    assert list(b.keys) == [kid]
    assert b.rejected == {"node_key_malformed": 4, "node_key_id_mismatch": 1}, b.rejected
    assert isinstance(b, Believed)


def test_the_node_fetches_the_keys_over_http_and_keeps_them_when_the_control_plane_is_down(tmp_path: Path) -> None:
    from sfu.cascade.keysource import NodeKeysSource, node_keys_from_url
    from tests.control.live import serve
    from tests.support.ports import free_port

    env = make_env(tmp_path)
    try:
        key = Ed25519PrivateKey.generate()
        env.residency.enroll_node_key("eu-1", public_text(key), actor="operator")
        with serve(env.client.app) as url:
            source = NodeKeysSource(node_keys_from_url(url), ttl=0.0)
            first = source()
            assert [k.region for k in first.keys.values()] == ["eu-1"] and source.failures == 0
        # the control plane is gone (nothing listens there now): the last good keys stay, the failure counts
        source._fetch = node_keys_from_url(f"http://127.0.0.1:{free_port()}")
        assert source().keys == first.keys and source.failures == 1
    finally:
        env.control.close()
