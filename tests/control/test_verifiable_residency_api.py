"""Verifiable residency through a real control plane on loopback: a node's receipt POSTed over HTTP, the tenant's
`castellan audit fetch` (held heads, pinned log and node keys) and `castellan residency verify` as processes,
the head webhook to a real loopback receiver, the console's summary endpoint — then the operator cheats:
a record dropped and the log re-signed, forged receipts, a node key moved to another region."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from residency import receipts as rc
from residency.audit import AuditRecord
from residency.heads import HeldHeads, parse_head, proof_from_hex
from residency.identity import public_text
from sfu.receipts import http_sender
from tests.control.cp_env import Env, add_node, make_env
from tests.control.live import serve
from tests.residency.operator_tools import rewrite_chain
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
T0 = 1_800_000_000


def castellan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "signalling.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})


class Hooks:
    """A tenant's webhook receiver on 127.0.0.1: keeps the heads it is POSTed, checking each like `fetch`."""

    def __init__(self, path: Path) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.path = path
        self.held: HeldHeads | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                doc = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.bodies.append(doc)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/heads"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path)


@pytest.fixture
def url(env: Env) -> Iterator[str]:
    with serve(env.client.app) as u:
        yield u


def receipt(room: str, key: Ed25519PrivateKey, region: str = "eu-1", jurisdiction: str = "EU", node: str = "node-eu-1",
            seq: int = 1, kind: str = "interim") -> dict[str, object]:
    r = rc.Receipt(meeting=room, tenant="acme", node=node, key_id="", region=region, jurisdiction=jurisdiction,
                   first_packet=T0, last_packet=T0 + 600, participants=3, packets=12_000, bytes=9_000_000,
                   relays=(), kind=kind, seq=seq, issued_at=T0 + 601)
    return rc.sign(r, key).to_dict()


def test_the_tenant_verifies_a_meeting_and_catches_the_operator(env: Env, url: str, tmp_path: Path) -> None:
    eu_key = Ed25519PrivateKey.generate()
    r = env.client.post("/v1/operator/node-keys", json={"region": "eu-1", "public_key": public_text(eu_key),
                                                       "reason": "node eu-1"}, headers=env.op())
    assert r.status_code == 201, r.text
    heads = tmp_path / "tenant" / "heads.jsonl"
    heads.parent.mkdir()
    first = castellan("audit", "fetch", "--api", url, "--key", env.admin_key, "--tenant", "acme", "--heads",
                      str(heads))
    assert first.returncode == 0, first.stderr
    assert "pinned the log key" in first.stdout and "the first you hold" in first.stdout

    hooks = Hooks(tmp_path / "hook-heads.jsonl")
    try:
        r = env.client.put("/v1/tenants/acme/transparency/webhook", json={"url": hooks.url}, headers=env.admin())
        assert r.status_code == 200, r.text
        for bad in ("http://198.51.100.9/x", "file:///etc/passwd", "ftp://example.org/"):
            r = env.client.put("/v1/tenants/acme/transparency/webhook", json={"url": bad}, headers=env.admin())
            assert r.status_code == 400 and r.json()["error"] == "invalid_webhook", r.text

        link = env.link()
        add_node(env.residency, "node-eu-1", "eu-1")  # fresh in the registry (the fetch took a while)
        joined = env.join(link["link"], password=link["password"])
        assert joined.status_code == 200, joined.text
        room = joined.json()["room"]
        send = http_sender(url)
        assert send(receipt(room, eu_key)) and send(receipt(room, eu_key, seq=2, kind="final"))
        assert send(receipt(room, eu_key, seq=2, kind="final"))  # resent: accepted, logged once

        # the maintenance loop delivers the new head; the receiver checks it like `fetch` would
        assert wait_until(lambda: len(hooks.bodies) >= 1, 15, 0.1), "no head delivered to the webhook"
        got = hooks.bodies[-1]
        log_key = (heads.parent / "heads.jsonl.log-key.pem").read_text()
        from residency.signing import parse_public_keys

        held = HeldHeads(tmp_path / "hook-heads.jsonl", parse_public_keys(log_key))
        assert held.accept(parse_head(got["head"], held.keys), proof_from_hex(got["consistency"]["proof"]))

        fetched = castellan("audit", "fetch", "--api", url, "--key", env.admin_key, "--tenant", "acme", "--heads",
                            str(heads), "--meeting", room, "--out", str(tmp_path / "tenant" / "evidence.json"))
        assert fetched.returncode == 0, fetched.stderr
        assert "consistent with the 1 head(s) held before" in fetched.stdout
        verified = castellan("residency", "verify", room, "--heads", str(heads), "--evidence",
                             str(tmp_path / "tenant" / "evidence.json"))
        assert verified.returncode == 0, verified.stderr
        assert "node-eu-1: EU Central (Frankfurt, DE) region eu-1, EU" in verified.stdout
        assert verified.stdout.strip().endswith("This meeting was processed in: EU Central (Frankfurt, DE) - verified")

        summary = env.client.get(f"/v1/tenants/acme/meetings/{room}/residency", headers=env.admin()).json()
        assert summary["verified"] and summary["regions"] == ["EU Central (Frankfurt, DE)"], summary
        assert summary["text"] == "This meeting was processed in: EU Central (Frankfurt, DE) - verified"
        assert env.client.get(f"/v1/tenants/acme/meetings/{room}/residency").status_code == 401

        # forged receipts are refused at the door (and the log does not grow)
        size = env.residency.audit.tenant_records("acme").__len__()
        forged = [(receipt(room, Ed25519PrivateKey.generate(), seq=7), 403, "receipt_key_unknown"),
                  (receipt(room, eu_key, region="us-1", jurisdiction="US", seq=8), 403, "receipt_region_mismatch"),
                  ({**receipt(room, eu_key, seq=9), "packets": 1}, 403, "receipt_signature_invalid"),
                  ({**receipt(room, eu_key, seq=9), "tenant": "nobody"}, 403, "receipt_signature_invalid"),
                  ({**receipt(room, eu_key), "extra": 1}, 400, "unknown_field"),
                  ({**receipt(room, eu_key), "relays": "node-x"}, 400, "invalid_field")]
        for doc, status, code in forged:
            r = env.client.post("/v1/receipts", json=doc)
            assert (r.status_code, r.json()["error"]) == (status, code), r.text
        assert len(env.residency.audit.tenant_records("acme")) == size

        # the operator drops the receipts and re-signs: the tenant's next fetch raises the alarm
        def drop(records: list[AuditRecord]) -> list[AuditRecord]:
            return [r for r in records if r.kind != "receipt.signed"]
        rewrite_chain(env.residency.db, env.residency.audit.tenant_records("acme"), "acme", drop)
        alarm = castellan("audit", "fetch", "--api", url, "--key", env.admin_key, "--tenant", "acme", "--heads",
                          str(heads))
        assert alarm.returncode == 3, alarm.stdout + alarm.stderr
        assert "ALERT: log_inconsistent" in alarm.stderr
        # and the evidence it would now be given fails offline against the heads the tenant already holds
        (tmp_path / "tenant" / "evidence.json").write_text(json.dumps(
            env.client.get(f"/v1/tenants/acme/meetings/{room}/evidence", headers=env.admin()).json()))
        stale = castellan("residency", "verify", room, "--heads", str(heads), "--evidence",
                          str(tmp_path / "tenant" / "evidence.json"))
        assert stale.returncode == 1 and "FAILED: log_inconsistent" in stale.stderr, stale.stderr
    finally:
        hooks.close()


def test_a_node_key_moved_to_another_region_raises_the_alarm(env: Env, url: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from signalling.cli.audit import fetch  # in-process this time: the same function the command runs

    key = Ed25519PrivateKey.generate()
    assert env.client.post("/v1/operator/node-keys", json={"region": "eu-1", "public_key": public_text(key),
                                                          "reason": "node"}, headers=env.op()).status_code == 201
    heads = tmp_path / "heads.jsonl"
    args = ["--api", url, "--key", env.admin_key, "--tenant", "acme", "--heads", str(heads)]
    assert fetch(args) == 0
    kid = json.loads((tmp_path / "heads.jsonl.node-keys.json").read_text())["keys"][0]["key_id"]
    assert env.client.request("DELETE", f"/v1/operator/node-keys/{kid}", json={"reason": "moved"},
                              headers=env.op()).status_code == 200
    assert env.client.post("/v1/operator/node-keys", json={"region": "us-1", "public_key": public_text(key),
                                                          "reason": "now us"}, headers=env.op()).status_code == 201
    capsys.readouterr()
    assert fetch(args) == 3
    err = capsys.readouterr().err
    assert "ALERT: node_keys_changed" in err and f"node key {kid} was enrolled for eu-1" in err, err


def test_proof_requests_outside_the_log_are_clear_errors(env: Env) -> None:
    h = env.client.get("/v1/tenants/acme/transparency/head", headers=env.admin()).json()
    size = h["head"]["tree_size"]
    r = env.client.get(f"/v1/tenants/acme/transparency/consistency?first={size + 1}&second={size + 2}",
                       headers=env.admin())
    assert r.status_code == 400 and r.json()["error"] == "proof_out_of_range", r.text
    r = env.client.get(f"/v1/tenants/acme/transparency/inclusion?index={size}&size={size}", headers=env.admin())
    assert r.status_code == 400 and r.json()["error"] == "proof_out_of_range", r.text
    r = env.client.get(f"/v1/tenants/acme/transparency/inclusion?index=0&size={size}", headers=env.admin())
    assert r.status_code == 200 and r.json()["tree_size"] == size
    assert env.client.get("/v1/tenants/nobody/transparency/head", headers=env.op()).status_code == 404
    r = env.client.get("/v1/tenants/acme/transparency/consistency?first=x", headers=env.admin())
    assert r.status_code == 400
