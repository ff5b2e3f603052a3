"""The control plane under a real uvicorn on 127.0.0.1: health, readiness, metrics, JWKS, revocations polled by
a node over HTTP, the CLI acting through the admin API, and the meeting's E2EE secret never reaching a server."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import httpx
import pytest

from sfu.admission import Admission, JoinRefused
from signalling import cli
from signalling.tokens import HttpRevocations, TokenVerifier
from tests.control.cp_env import make_env
from tests.control.live import Recorder, serve


@pytest.fixture
def live(tmp_path: Path):
    env = make_env(tmp_path)
    recorder = Recorder(env.client.app)
    with serve(recorder) as url:
        env.control.config.public_url = url
        yield env, url, recorder
    env.control.close()


def test_health_readiness_metrics_and_jwks(live) -> None:
    env, url, _ = live
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{url}/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"store": True, "residency": True}
    link = env.link(no_password=True)
    httpx.post(f"{url}/v1/join", json={"link": link["link"], "name": "x"})
    metrics = httpx.get(f"{url}/metrics").text
    for name in ("castellan_joins_total", "castellan_placements_total", "castellan_password_failures_total",
                 "castellan_token_failures_total", "castellan_placement_refusals_total"):
        assert name in metrics, name
    jwks = httpx.get(f"{url}/.well-known/jwks.json").json()
    assert jwks["keys"][0]["alg"] == "EdDSA" and jwks["keys"][0]["kid"]


def test_readyz_is_503_when_the_store_is_gone(live) -> None:
    env, url, _ = live
    env.control.store.close()
    r = httpx.get(f"{url}/readyz")
    assert r.status_code == 503 and r.json()["checks"]["store"] is False


def test_a_node_in_another_process_learns_revocations_over_http(live) -> None:
    env, url, _ = live
    link = env.link(no_password=True)
    joined = httpx.post(f"{url}/v1/join", json={"link": link["link"], "name": "x"}).json()
    revocations = HttpRevocations(url, ttl=0)
    admission = Admission(region="eu-1", revocations=revocations)
    jwks = httpx.get(f"{url}/.well-known/jwks.json").json()
    claims = TokenVerifier(lambda: jwks, joined["node"]).verify(joined["token"])
    revocations.refresh()
    admission.check(claims, draining=False, registry_ok=True)  # not revoked yet: admitted
    httpx.post(f"{url}/v1/tenants/acme/links/{link['link']}/revoke", json={}, headers=env.admin())
    revocations.refresh()
    with pytest.raises(JoinRefused) as e:
        admission.check(claims, draining=False, registry_ok=True)
    assert e.value.code == "link_revoked"


def test_the_e2ee_secret_in_the_fragment_never_reaches_or_stays_on_a_server(live, capsys, tmp_path) -> None:
    """`castellan link create` (through the API) makes the secret locally; a participant opens the link and
    joins. Not one byte any client sent to the server — and nothing on disk — contains the secret."""
    env, url, recorder = live
    rc = cli.main(["link", "create", "--api", url, "--key", env.admin_key, "--tenant", "acme",
                   "--title", "Board", "--password", "s3cret-pass", "--lobby", "--json"])
    assert rc == 0
    created = json.loads(capsys.readouterr().out)
    parsed = urllib.parse.urlsplit(created["join_url"])
    secret = urllib.parse.parse_qs(parsed.fragment)["k"][0]
    assert len(secret) == 43 and created["url"] == urllib.parse.urlunsplit(parsed._replace(fragment=""))
    # a participant: opens the page (a browser sends no fragment), reads the link info, joins
    page = httpx.get(created["join_url"])
    assert page.status_code == 200
    link_id = parsed.path.rsplit("/", 1)[1]
    assert httpx.get(f"{url}/v1/links/{link_id}").json()["lobby"] is True
    r = httpx.post(f"{url}/v1/join", json={"link": link_id, "name": "Ada", "password": "s3cret-pass"})
    assert r.status_code == 202
    # the host admits, using the host key from the host link's fragment (sent only as a header)
    host_key = urllib.parse.parse_qs(urllib.parse.urlsplit(created["host_url"]).fragment)["h"][0]
    ticket = r.json()["ticket"]
    httpx.post(f"{url}/v1/links/{link_id}/lobby/{ticket}", json={"decision": "admit"}, headers={"X-Host-Key": host_key})
    assert httpx.get(f"{url}/v1/lobby/{ticket}").json()["status"] == "joined"
    sent = recorder.everything()
    assert link_id.encode() in sent  # the recorder does see the traffic...
    assert secret.encode() not in sent  # ...but never the secret
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f
    assert secret.encode() not in env.control.store.dump()


def test_the_cli_manages_lockouts_through_the_api(live, capsys) -> None:
    env, url, _ = live
    link = env.link(password="right horse battery")["link"]
    for _ in range(5):
        httpx.post(f"{url}/v1/join", json={"link": link, "name": "x", "password": "guess"})
    assert cli.main(["lockout", "list", "--api", url, "--key", env.admin_key, "--tenant", "acme", "--json"]) == 0
    locks = json.loads(capsys.readouterr().out)["lockouts"]
    assert {lo["scope"] for lo in locks} == {"link", "client"}
    for lo in locks:
        assert cli.main(["lockout", "clear", "--api", url, "--key", env.admin_key, "--tenant", "acme",
                         "--scope", lo["scope"], "--lock-key", lo["key"]]) == 0
    assert httpx.post(f"{url}/v1/join", json={"link": link, "name": "x", "password": "right horse battery"}).status_code == 200


def test_the_cli_reports_api_errors_clearly(live, capsys) -> None:
    env, url, _ = live
    assert cli.main(["link", "list", "--api", url, "--key", "cak_bogus.key", "--tenant", "acme"]) == 1
    assert "unauthenticated" in capsys.readouterr().err


def test_the_link_page_and_the_browser_client_are_served(live) -> None:
    env, url, _ = live
    link = env.link(no_password=True)
    page = httpx.get(link["url"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["referrer-policy"] == "no-referrer"  # the link id never leaks to other sites
    assert page.headers["x-frame-options"] == "DENY"  # no framing of the password form
    if "/static/app.js" in page.text:  # the page's module script and the modules it imports
        for module in ("app.js", "join.js", "meeting.js", "tiles.js", "session.js"):
            assert httpx.get(f"{url}/static/{module}").status_code == 200, module
    assert httpx.get(f"{url}/static/../control/store.py").status_code == 404
    assert httpx.get(f"{url}/j/not-a-link").json()["error"] == "link_not_found"
