"""Regions and node keys are operator configuration (issue 13): defined from the deployment's configuration at
start (CASTELLAN_REGIONS, CASTELLAN_NODE_KEYS — what the chart sets) and by operator commands (CLI on the
database or through the API), every change audited, and a region's definition never silently changed: a start
whose configured regions contradict the stored ones exits with a clear message and changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from residency.identity import public_text
from signalling import cli
from tests.support.ports import free_port
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
EU1 = {"id": "eu-1", "jurisdiction": "EU", "location": "Frankfurt, DE", "display_name": "EU Central"}


def _start(tmp_path: Path, port: int, **env: str) -> subprocess.Popen[bytes]:
    full = {**{k: v for k, v in os.environ.items() if not k.startswith("CASTELLAN_")},
            "CASTELLAN_DB": str(tmp_path / "cp.db"), "CASTELLAN_PORT": str(port), **env}
    return subprocess.Popen([sys.executable, "-m", "signalling.cli", "control-plane"], cwd=ROOT, env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _audit_kinds(db: Path) -> list[tuple[str, str]]:
    from residency.db import Database

    d = Database(db)
    try:
        return [(str(r[0]), str(r[1])) for r in d.query("SELECT kind, actor FROM audit_records ORDER BY seq")]
    finally:
        d.close()


def test_configured_regions_and_keys_are_defined_at_start_and_a_contradiction_refuses_to_start(tmp_path: Path) -> None:
    key = public_text(Ed25519PrivateKey.generate())
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start(tmp_path, port, CASTELLAN_REGIONS=json.dumps([EU1]),
                  CASTELLAN_NODE_KEYS=json.dumps([{"region": "eu-1", "public_key": key}]))
    try:
        assert wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, 20, 0.05,
                          ignore=(httpx.HTTPError,))
        op = {"Authorization": f"Bearer {(tmp_path / 'operator.key').read_text().strip()}"}
        assert httpx.get(f"{url}/v1/operator/regions", headers=op).json()["regions"] == [EU1]
        keys = httpx.get(f"{url}/v1/operator/node-keys", headers=op).json()["keys"]
        assert [(k["region"], k["public_key"]) for k in keys] == [("eu-1", key)]
        # the operator API: a second region (audited with the operator's actor), and no redefinition
        r = httpx.post(f"{url}/v1/operator/regions", headers=op, json={
            "region": "eu-2", "jurisdiction": "EU", "location": "Paris, FR", "display_name": "EU West"})
        assert r.status_code == 201, r.text
        r = httpx.post(f"{url}/v1/operator/regions", headers=op, json={
            "region": "eu-2", "jurisdiction": "CH", "location": "Zurich", "display_name": "EU West"})
        assert (r.status_code, r.json()["error"]) == (409, "region_exists")
        assert httpx.get(f"{url}/v1/operator/regions").status_code == 401  # operator only
    finally:
        proc.terminate()
        proc.wait(10)

    moved = {**EU1, "jurisdiction": "CH"}  # the chart's values now claim eu-1 is in Switzerland
    proc = _start(tmp_path, free_port(), CASTELLAN_REGIONS=json.dumps([moved]))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert b"region_changed" in err and b"eu-1" in err and b"define a new region id" in err
    kinds = _audit_kinds(tmp_path / "cp.db")
    assert ("region.defined", "operator:configuration") in kinds
    assert ("node_key.enrolled", "operator:configuration") in kinds
    assert kinds[-1] == ("region.refused", "operator:configuration")
    assert [k for k, _ in kinds].count("region.defined") == 2  # eu-1 at start, eu-2 by the API; nothing after

    bad = _start(tmp_path, free_port(), CASTELLAN_REGIONS="[{\"id\": \"eu-1\"}]")
    _, err = bad.communicate(timeout=30)
    assert bad.returncode == 1 and b"invalid_regions" in err


def test_the_cli_defines_regions_and_enrolls_and_revokes_node_keys(tmp_path: Path, capsys) -> None:
    db = str(tmp_path / "cp.db")
    out = tmp_path / "node-key.pem"
    assert cli.main(["node-key", "generate", "--out", str(out), "--json"]) == 0
    generated = json.loads(capsys.readouterr().out)
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(SystemExit, match="not overwriting"):
        cli.main(["node-key", "generate", "--out", str(out)])
    capsys.readouterr()
    assert cli.main(["region", "define", "--init", "--db", db, "--region", "eu-1", "--jurisdiction", "EU",
                     "--location", "Frankfurt, DE", "--display-name", "EU Central", "--json"]) == 0
    capsys.readouterr()
    assert cli.main(["node-key", "enroll", "--db", db, "--region", "eu-1", "--public-key", generated["public_key"],
                     "--reason", "new host fra-07", "--json"]) == 0
    enrolled = json.loads(capsys.readouterr().out)
    assert enrolled["key_id"] == generated["key_id"] and enrolled["region"] == "eu-1"
    assert cli.main(["node-key", "enroll", "--db", db, "--region", "us-1", "--public-key",
                     generated["public_key"]]) == 1
    assert "unknown_region" in capsys.readouterr().err
    assert cli.main(["node-key", "revoke", generated["key_id"], "--db", db, "--reason", "host retired",
                     "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["revoked"] is True
    assert cli.main(["node-key", "list", "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["keys"] == []
    kinds = [k for k, _ in _audit_kinds(tmp_path / "cp.db")]
    assert {"region.defined", "node_key.enrolled", "node_key.refused", "node_key.revoked"} <= set(kinds)


def test_a_public_key_that_starts_with_a_dash_enrolls_as_pasted(tmp_path: Path, capsys) -> None:
    """One base64url key in 64 starts with "-": pasted after `--public-key` as the node's log prints it, argparse
    took it for an option and the enrolment failed ("expected one argument"), at random, for operators and CI."""
    db = str(tmp_path / "cp.db")
    dashed = next(k for k in (Ed25519PrivateKey.generate() for _ in range(10_000)) if public_text(k).startswith("-"))
    assert cli.main(["region", "define", "--init", "--db", db, "--region", "eu-1", "--jurisdiction", "EU",
                     "--location", "Frankfurt, DE", "--display-name", "EU Central"]) == 0
    capsys.readouterr()
    assert cli.main(["node-key", "enroll", "--db", db, "--region", "eu-1", "--public-key", public_text(dashed),
                     "--reason", "new host", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["region"] == "eu-1"
    assert cli.main(["node-key", "list", "--db", db, "--json"]) == 0
    assert [k["public_key"] for k in json.loads(capsys.readouterr().out)["keys"]] == [public_text(dashed)]
