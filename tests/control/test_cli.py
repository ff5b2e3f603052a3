"""The `castellan` CLI: admin commands straight on the database, the control-plane process end to end, and the
subcommands that belong to other parts (node, dev, audit) handed their argv untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import types
import urllib.parse
from pathlib import Path

import httpx
import pytest

from signalling import cli
from signalling.control.config import ControlConfig
from signalling.control.linkids import LinkSigner
from signalling.control.store import Store
from tests.support.ports import free_port
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert cli.main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_direct_mode_tenant_key_and_link_lifecycle(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("CASTELLAN_DB", str(tmp_path / "cp.db"))  # every flag has an env var
    monkeypatch.setenv("CASTELLAN_PUBLIC_URL", "https://meet.example")
    run(capsys, "tenant", "create", "--init", "--tenant", "acme", "--name", "ACME", "--jurisdiction", "EU", "--json")
    key = run(capsys, "admin-key", "create", "--tenant", "acme", "--label", "ops", "--json")
    assert key["key"].startswith("cak_")
    link = run(capsys, "link", "create", "--tenant", "acme", "--title", "Standup", "--expires", "2h",
               "--max-participants", "10", "--lobby", "--json")
    assert link["join_url"].startswith(f"https://meet.example/j/{link['link']}#k=")
    assert link["password_required"] and link["password"] and link["lobby"] and link["max_participants"] == 10
    assert abs(link["expires_at"] - time.time() - 7200) < 60
    secret = urllib.parse.parse_qs(urllib.parse.urlsplit(link["join_url"]).fragment)["k"][0]
    store = Store(tmp_path / "cp.db")
    assert secret.encode() not in store.dump() and link["password"].encode() not in store.dump()
    assert LinkSigner(store.secret("link-signing-key")).verify(link["link"])
    listed = run(capsys, "link", "list", "--tenant", "acme", "--json")["links"]
    assert [x["link"] for x in listed] == [link["link"]]
    revoked = run(capsys, "link", "revoke", link["link"], "--tenant", "acme", "--json")
    assert revoked["revoked"] is True
    assert run(capsys, "link", "show", link["link"], "--tenant", "acme", "--json")["revoked"] is True
    run(capsys, "admin-key", "revoke", key["key_id"], "--tenant", "acme", "--json")
    assert run(capsys, "admin-key", "list", "--tenant", "acme", "--json")["keys"][0]["revoked"] is True


def test_human_output_shows_the_links_and_the_generated_password_once(tmp_path: Path, capsys) -> None:
    db = str(tmp_path / "cp.db")
    run(capsys, "tenant", "create", "--init", "--db", db, "--tenant", "acme", "--name", "ACME", "--jurisdiction", "EU", "--json")
    assert cli.main(["link", "create", "--db", db, "--tenant", "acme", "--title", "Board"]) == 0
    out = capsys.readouterr().out
    assert "Join link: http://127.0.0.1:8000/j/" in out and "#k=" in out
    assert "Password:" in out and "generated" in out and "Host link:" in out and "&h=" in out
    assert cli.main(["link", "create", "--db", db, "--tenant", "acme", "--title", "Open", "--no-password"]) == 0
    assert "none (anyone with the link can join)" in capsys.readouterr().out


def test_a_recorder_key_pair_and_links_that_carry_its_public_half(tmp_path: Path, capsys) -> None:
    """docs/recording.md, "Handing the link secret to the recorder": the key pair is made locally (the private half
    into the pools' file, never a server), and the links carry the public half as r= in the fragment only."""
    keys = tmp_path / "recorder-keys.json"
    assert cli.main(["recorder-key", "new", "--tenant", "acme", "--out", str(keys)]) == 0
    public = capsys.readouterr().out.strip()
    assert oct(keys.stat().st_mode & 0o777) == "0o600"
    assert set(json.loads(keys.read_text())) == {"acme"}
    with pytest.raises(SystemExit):  # never overwritten silently
        cli.main(["recorder-key", "new", "--tenant", "acme", "--out", str(keys)])
    capsys.readouterr()
    db = str(tmp_path / "cp.db")
    run(capsys, "tenant", "create", "--init", "--db", db, "--tenant", "acme", "--name", "ACME", "--jurisdiction", "EU", "--json")
    link = run(capsys, "link", "create", "--db", db, "--tenant", "acme", "--title", "Board", "--json",
               "--recorder-public-key", public)
    for url in (link["join_url"], link["host_url"]):
        frag = urllib.parse.parse_qs(urllib.parse.urlsplit(url).fragment)
        assert frag["r"] == [public] and len(frag["k"][0]) == 43
        assert "r=" not in urllib.parse.urlsplit(url).query
    assert public.encode() not in Store(tmp_path / "cp.db").dump()
    for bad in ["short", "!" * 43, public + "A"]:
        with pytest.raises(SystemExit, match="recorder public key"):
            cli.main(["link", "create", "--db", db, "--tenant", "acme", "--title", "x", "--recorder-public-key", bad])


def test_errors_are_one_clear_line(tmp_path: Path, capsys) -> None:
    assert cli.main(["link", "create", "--init", "--db", str(tmp_path / "x.db"), "--tenant", "nobody", "--title",
                     "t"]) == 1
    assert capsys.readouterr().err.strip() == "castellan: tenant_not_found: tenant 'nobody' does not exist"


def test_expires_parsing() -> None:
    assert cli.parse_expires("90m") == 5400
    assert cli.parse_expires("7d") == 604800
    assert cli.parse_expires("3600") == 3600
    assert cli.parse_expires("2030-01-01T00:00:00+00:00", now=1_893_456_000 - 60) == 60
    with pytest.raises(SystemExit):
        cli.parse_expires("next tuesday")


@pytest.mark.parametrize("command,module", [("node", "sfu.server"), ("dev", "signalling.cli.dev"),
                                            ("audit", "residency.cli")])
def test_other_parts_get_their_argv_untouched(command: str, module: str, monkeypatch) -> None:
    seen: list[list[str]] = []
    fake = types.ModuleType(module)

    def fake_main(argv: list[str]) -> int:
        seen.append(argv)
        return 7

    fake.main = fake_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module, fake)
    assert cli.main([command, "--region", "eu-1", "--help"]) == 7
    assert seen == [["--region", "eu-1", "--help"]]


def test_a_missing_part_is_a_clear_message(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "signalling.cli.dev", None)
    assert cli.main(["dev"]) == 2
    assert "not available" in capsys.readouterr().err


def test_audit_export_of_cli_actions_verifies(tmp_path: Path, capsys) -> None:
    db = str(tmp_path / "cp.db")
    run(capsys, "tenant", "create", "--init", "--db", db, "--tenant", "acme", "--name", "ACME", "--jurisdiction", "EU", "--json")
    run(capsys, "link", "create", "--db", db, "--tenant", "acme", "--title", "t", "--json")
    key = ControlConfig(db=Path(db)).key_dir() / "audit-ed25519.pem"
    out = tmp_path / "acme.jsonl"
    assert cli.main(["audit", "export", "--db", db, "--tenant", "acme", "--signing-key", str(key), "-o", str(out)]) == 0
    pub = tmp_path / "pub.pem"
    assert cli.main(["audit", "public-key", "--signing-key", str(key)]) == 0
    pub.write_text(capsys.readouterr().out)
    assert cli.main(["audit", "verify", str(out), "--public-key", str(pub)]) == 0
    kinds = [json.loads(line).get("kind") for line in out.read_text().splitlines()]
    assert "tenant.created" in kinds and "link.create" in kinds


def test_control_plane_process_end_to_end(tmp_path: Path) -> None:
    """`castellan control-plane` as its own process: writes the operator key (0600), serves the API; the
    operator creates a tenant and a tenant key through it; a join is refused fail-closed (no nodes yet)."""
    port = free_port()
    env = {**os.environ, "CASTELLAN_DB": str(tmp_path / "cp.db")}
    proc = subprocess.Popen([sys.executable, "-m", "signalling.cli", "control-plane", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(f"{url}/healthz").status_code == 200, 20, 0.05, ignore=(httpx.HTTPError,))
        key_file = tmp_path / "operator.key"
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        op = {"Authorization": f"Bearer {key_file.read_text().strip()}"}
        r = httpx.post(f"{url}/v1/tenants", json={"tenant": "acme", "name": "ACME", "jurisdiction": "EU"}, headers=op)
        assert r.status_code == 201, r.text
        admin = httpx.post(f"{url}/v1/tenants/acme/admin-keys", json={}, headers=op).json()["key"]
        link = httpx.post(f"{url}/v1/tenants/acme/links", json={"title": "t", "no_password": True},
                          headers={"Authorization": f"Bearer {admin}"}).json()
        assert link["url"].startswith(f"{url}/j/")
        r = httpx.post(f"{url}/v1/join", json={"link": link["link"], "name": "Ada"})
        assert (r.status_code, r.json()["error"]) == (503, "placement_refused")
        assert httpx.get(f"{url}/.well-known/jwks.json").json()["keys"]
    finally:
        proc.terminate()
        proc.wait(10)


def test_an_operator_key_from_the_environment_is_registered_hashed(tmp_path: Path) -> None:
    from tests.control.cp_env import make_env

    env = make_env(tmp_path)
    provided = "cak_0123456789abcdef." + "s" * 43
    assert env.control.ensure_operator_key(provided) is None
    assert env.control.authenticate(provided).tenant == "*"
    assert ("s" * 43).encode() not in env.control.store.dump()
    with pytest.raises(ValueError):
        env.control.ensure_operator_key("cak_short.x")
    # a second replica that checked before the first inserted (both start at once): it finds the key, no error
    store = env.control.store
    assert not store.add_admin_key_if_absent("0123456789abcdef", "*", "0" * 64, "the other replica")
    assert store.admin_key("0123456789abcdef").label == "operator key from the environment"
    env.control.close()


def test_link_create_refuses_a_short_or_common_password_with_a_clear_message(tmp_path: Path, capsys) -> None:
    db = str(tmp_path / "cp.db")
    run(capsys, "tenant", "create", "--init", "--db", db, "--tenant", "acme", "--name", "ACME", "--jurisdiction", "EU", "--json")
    for password, says in (("pw", "at least 8 characters"), ("Password1", "most common passwords"),
                           ("qwertyuiop", "most common passwords")):
        with pytest.raises(SystemExit) as e:
            cli.main(["link", "create", "--db", db, "--tenant", "acme", "--title", "t", "--password", password])
        assert says in str(e.value) and "--password" in str(e.value), e.value
    assert run(capsys, "link", "list", "--db", db, "--tenant", "acme", "--json")["links"] == []


def test_password_dash_asks_twice_without_echo(tmp_path: Path, capsys, monkeypatch) -> None:
    import getpass

    db = str(tmp_path / "cp.db")
    run(capsys, "tenant", "create", "--init", "--db", db, "--tenant", "acme", "--name", "ACME", "--jurisdiction", "EU", "--json")
    typed = iter(["lantern harbour 7", "lantern harbour 8"])  # what the person types at the terminal
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(typed))
    with pytest.raises(SystemExit) as e:
        cli.main(["link", "create", "--db", db, "--tenant", "acme", "--title", "t", "--password", "-"])
    assert "differ" in str(e.value)
    typed = iter(["lantern harbour 7", "lantern harbour 7"])
    link = run(capsys, "link", "create", "--db", db, "--tenant", "acme", "--title", "t", "--password", "-", "--json")
    assert link["password_required"] and "password" not in link  # given, so not echoed back


def test_no_operator_key_file_possible_stops_the_control_plane_without_printing_a_key(tmp_path: Path) -> None:
    """Nowhere to write the first operator key (here: both places already hold an `operator.key` that is not
    ours; a read-only volume is the same). Before: the key was printed to stderr, i.e. into the logs. Now: the
    process exits saying how to set CASTELLAN_OPERATOR_KEY, and no key was created (none that nobody knows)."""
    (tmp_path / "operator.key").mkdir()
    (tmp_path / "keys" / "operator.key").mkdir(parents=True)
    env = {**os.environ, "CASTELLAN_DB": str(tmp_path / "cp.db"), "PYTHONPATH": str(ROOT)}
    env.pop("CASTELLAN_OPERATOR_KEY", None)
    proc = subprocess.Popen([sys.executable, "-m", "signalling.cli", "control-plane", "--port", str(free_port())],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    assert proc.returncode not in (0, None), "the control plane started without an operator key anyone knows"
    assert "cak_" not in out + err.replace("cak_{", "")  # the example command's f-string, not a key
    assert "CASTELLAN_OPERATOR_KEY" in err and "operator.key" in err
    store = Store(tmp_path / "cp.db")
    assert [k for k in store.admin_keys("*") if k.revoked_at is None] == []
    store.close()


def test_the_control_plane_starts_with_an_operator_key_from_the_environment_and_writes_no_file(tmp_path: Path) -> None:
    provided = "cak_0123456789abcdef." + "e" * 43
    env = {**os.environ, "CASTELLAN_DB": str(tmp_path / "cp.db"), "PYTHONPATH": str(ROOT),
           "CASTELLAN_OPERATOR_KEY": provided}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "signalling.cli", "control-plane", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(f"{url}/healthz").status_code == 200, 30, 0.05, ignore=(httpx.HTTPError,))
        r = httpx.post(f"{url}/v1/tenants", json={"tenant": "acme", "name": "ACME", "jurisdiction": "EU"},
                       headers={"Authorization": f"Bearer {provided}"})
        assert r.status_code == 201, r.text
        assert not (tmp_path / "operator.key").exists()
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    assert "e" * 43 not in out


def test_castellan_dev_refuses_a_weak_demo_password_before_starting_anything(capsys) -> None:
    from signalling.cli.dev import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--password", "letmein"])
    assert "at least 8 characters" in capsys.readouterr().err
    assert parse_args(["--password", "demo meeting 2026"]).password == "demo meeting 2026"
