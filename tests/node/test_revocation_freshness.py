"""The node's fetches from the control plane fail closed (issue 13): the JWKS and the revoked links come over
https, verified against the operator's CA bundle (CASTELLAN_CA_BUNDLE), and a node that cannot refresh the
revoked links for longer than its bound refuses joins (`revocations_stale`, metric
castellan_node_revocations_stale) instead of admitting a holder of a link revoked meanwhile.

The control plane runs under a real uvicorn on 127.0.0.1, over TLS with a certificate from a private CA."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sfu.admission import Admission, JoinRefused
from sfu.server import jwks_from_url
from signalling.tokens import HttpRevocations, TokenVerifier
from signalling.tokens.revocations import tls_context
from tests.control.cp_env import make_env
from tests.control.live import serve
from tests.support.tls import CertificateAuthority


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def tls_live(tmp_path: Path) -> Iterator[tuple[object, str, str]]:
    """The control plane over https with a certificate from a private CA; yields (env, its URL, the CA's PEM file:
    the operator's CA bundle)."""
    ca = CertificateAuthority.create(tmp_path / "tls")
    leaf = ca.issue("server", ["localhost"], ["127.0.0.1"])
    env = make_env(tmp_path)
    with serve(env.client.app, tls=(str(leaf.cert), str(leaf.key))) as url:
        env.control.config.public_url = url
        yield env, url, str(ca.cert)
    env.control.close()


def test_over_https_with_the_operators_ca_the_node_learns_keys_and_revocations(tls_live) -> None:
    env, url, ca = tls_live
    assert url.startswith("https://")
    context = tls_context(ca)
    link = env.link(no_password=True)
    joined = httpx.post(f"{url}/v1/join", json={"link": link["link"], "name": "x"}, verify=ca).json()
    claims = TokenVerifier(jwks_from_url(url, context), joined["node"]).verify(joined["token"])
    revocations = HttpRevocations(url, ttl=0, context=context)
    revocations.refresh()
    assert not revocations.stale() and revocations.failures == 0
    admission = Admission(region=claims.region, revocations=revocations)
    admission.check(claims, draining=False, registry_ok=True)
    httpx.post(f"{url}/v1/tenants/acme/links/{link['link']}/revoke", json={}, headers=env.admin(),
               verify=ca)
    revocations.refresh()
    with pytest.raises(JoinRefused) as e:
        admission.check(claims, draining=False, registry_ok=True)
    assert e.value.code == "link_revoked"


def test_a_certificate_the_node_does_not_trust_is_a_failed_refresh_not_a_silent_downgrade(tls_live) -> None:
    env, url, ca = tls_live
    revocations = HttpRevocations(url, ttl=0)  # the system's CAs only: the private CA is not among them
    revocations.refresh()
    assert revocations.failures == 1 and revocations.stale()
    with pytest.raises(OSError):
        jwks_from_url(url)()
    with pytest.raises(ValueError):
        HttpRevocations("ftp://control-plane/")  # only http(s) URLs


def test_joins_are_refused_when_revocations_could_not_be_refreshed_for_longer_than_the_bound(tls_live) -> None:
    env, url, ca = tls_live
    clock = Clock()
    revocations = HttpRevocations(url, ttl=2.0, max_age=30.0, context=tls_context(ca), clock=clock)
    link = env.link(no_password=True)
    joined = httpx.post(f"{url}/v1/join", json={"link": link["link"], "name": "x"}, verify=ca).json()
    claims = TokenVerifier(jwks_from_url(url, tls_context(ca)), joined["node"]).verify(joined["token"])
    admission = Admission(region=claims.region, revocations=revocations)

    with pytest.raises(JoinRefused) as e:  # before the first refresh: nothing is known yet
        admission.check(claims, draining=False, registry_ok=True)
    assert e.value.code == "revocations_stale"
    revocations.refresh()
    admission.check(claims, draining=False, registry_ok=True)  # fresh: admitted

    revocations.url = "https://127.0.0.1:9/v1/revocations"  # the control plane becomes unreachable
    clock.now += 29
    revocations.refresh()
    assert revocations.failures == 1 and not revocations.stale()  # within the bound: still admits
    admission.check(claims, draining=False, registry_ok=True)
    clock.now += 2
    revocations.refresh()
    assert revocations.stale()
    with pytest.raises(JoinRefused) as e:
        admission.check(claims, draining=False, registry_ok=True)
    assert e.value.code == "revocations_stale"


def test_a_garbage_revocation_list_is_a_counted_failure(tmp_path: Path) -> None:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def garbage(request: object) -> JSONResponse:
        return JSONResponse(["not", "an", "object"])

    with serve(Starlette(routes=[Route("/v1/revocations", garbage)])) as url:
        revocations = HttpRevocations(url, ttl=0)
        revocations.refresh()
    assert revocations.failures == 1 and revocations.stale()


def test_the_node_exposes_staleness_as_metrics(tmp_path: Path) -> None:
    from sfu.config import NodeConfig
    from sfu.metrics import metrics_endpoint
    from sfu.node import Node

    revocations = HttpRevocations("http://127.0.0.1:9", ttl=0, timeout=0.5)
    revocations.refresh()
    node = Node(NodeConfig(node_id="n1", region="eu-1"), Admission("eu-1", revocations=revocations))
    _, scrape = metrics_endpoint(node, revocations=revocations)
    text = scrape().decode()
    assert 'castellan_node_revocations_stale{node="n1",region="eu-1"} 1.0' in text
    assert 'castellan_node_revocation_refresh_failures_total{node="n1",region="eu-1"} 1.0' in text
    assert 'castellan_node_revocations_age_seconds{node="n1",region="eu-1"} -1.0' in text
