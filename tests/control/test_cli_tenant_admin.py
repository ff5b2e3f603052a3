"""Issue 16, the CLI's side: it never creates a store unless asked (`--init`) nor folders for `--db`, takes
options in any order, prints times as ISO 8601 UTC, shows and changes a tenant's regions (a tenant admin key
sees its own tenant), warns when no region or node would take a tenant's meetings, lists and ends meetings."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from signalling import cli
from tests.control.cp_env import Env, make_env
from tests.control.fake_node import fake_node
from tests.control.live import redirect_trap, serve


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Env, str]]:
    env = make_env(tmp_path)
    with serve(env.client.app) as url:
        env.control.config.public_url = url
        yield env, url
    env.control.close()


def test_a_forgotten_api_or_db_creates_nothing(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("CASTELLAN_DB", raising=False)
    monkeypatch.delenv("CASTELLAN_API", raising=False)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["tenant", "list"]) == 1
    assert "use --api URL --key KEY" in capsys.readouterr().err
    assert cli.main(["link", "create", "--tenant", "acme", "--title", "t", "--db", "here.db"]) == 1
    assert "add --init" in capsys.readouterr().err
    assert cli.main(["tenant", "create", "--init", "--db", "no/such/dir/c.db", "--tenant", "a", "--name", "A",
                     "--jurisdiction", "EU"]) == 1
    assert "folders are never created" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no database, no keys, no folder
    assert cli.main(["tenant", "create", "--init", "--db", "c.db", "--tenant", "a", "--name", "A",
                     "--jurisdiction", "EU", "--json"]) == 0
    assert (tmp_path / "c.db").exists()
    capsys.readouterr()
    assert cli.main(["tenant", "list", "--db", "c.db", "--json"]) == 0  # an existing store needs no --init
    assert [t["tenant"] for t in json.loads(capsys.readouterr().out)["tenants"]] == ["a"]


def test_options_in_any_order_and_human_times(live, capsys) -> None:
    env, url = live
    links = [env.link(no_password=True, title=f"m{i}", expires_in=3600)["link"] for i in range(2)]
    assert cli.main(["link", "revoke", "--api", url, links[0], "--key", env.admin_key, "--tenant", "acme"]) == 0
    assert cli.main(["link", "revoke", links[1], "--api", url, "--key", env.admin_key, "--tenant", "acme"]) == 0
    capsys.readouterr()
    assert cli.main(["link", "list", "--tenant", "acme", "--api", url, "--key", env.admin_key]) == 0
    out = capsys.readouterr().out
    listed = json.loads(out)["links"]
    assert all(x["revoked"] for x in listed) and len(listed) == 2
    iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
    assert all(iso.match(x["created"]) and iso.match(x["expires_at"]) for x in listed), out
    assert cli.main(["link", "list", "--json", "--tenant", "acme", "--api", url, "--key", env.admin_key]) == 0
    assert isinstance(json.loads(capsys.readouterr().out)["links"][0]["created"], float)  # machines: numbers


def test_tenant_show_and_regions_with_a_tenant_admin_key(live, capsys) -> None:
    env, url = live
    env.residency.define_region("ch-1", "CH", "Zurich, CH", "Switzerland", actor="operator")
    key = ["--api", url, "--key", env.admin_key]
    assert cli.main(["tenant", "list", *key, "--json"]) == 0  # its own tenant, not `forbidden`
    assert [t["tenant"] for t in json.loads(capsys.readouterr().out)["tenants"]] == ["acme"]
    assert cli.main(["tenant", "show", "--tenant", "acme", *key]) == 0
    out = capsys.readouterr().out
    assert "Jurisdiction:  EU" in out and re.search(r"eu-1 .*: allowed, rule own, 1 node", out), out
    assert re.search(r"ch-1 .*: not allowed, rule adequate, 0 node", out), out
    assert cli.main(["tenant", "regions", "--tenant", "acme", *key, "--allow", "eu-1,ch-1",
                     "--opt-in", "ch-1=Swiss subsidiary", "--reason", "disaster recovery"]) == 0
    captured = capsys.readouterr()
    assert re.search(r"ch-1 .*: allowed, rule adequate", captured.out)
    assert re.search(r"opt-in by admin-key:\w+ at \d{4}-\d\d-\d\dT[\d:]+Z: Swiss subsidiary", captured.out)
    assert "warning: Allowed region(s) ch-1 have no media node" in captured.err
    with pytest.raises(SystemExit, match="needs --reason"):
        cli.main(["tenant", "regions", "--tenant", "acme", *key, "--allow", "eu-1"])
    assert cli.main(["tenant", "regions", "--tenant", "globex", *key, "--default", "--reason", "x"]) == 1
    assert "forbidden" in capsys.readouterr().err
    policy = [r for r in env.residency.audit.tenant_records("acme") if r.kind == "policy.changed"]
    assert [p.data["reason"] for p in policy] == ["disaster recovery"]


def test_tenant_and_link_creation_warn_when_nothing_would_serve_them(live, capsys) -> None:
    env, url = live
    assert cli.main(["tenant", "create", "--api", url, "--key", env.operator_key, "--tenant", "brit",
                     "--name", "Brit", "--jurisdiction", "UK", "--json"]) == 0
    assert "warning: No region is allowed for this tenant (jurisdiction UK)" in capsys.readouterr().err
    env.residency.define_region("uk-1", "UK", "London, UK", "UK South", actor="operator")
    assert cli.main(["link", "create", "--api", url, "--key", env.operator_key, "--tenant", "brit",
                     "--title", "t", "--no-password"]) == 0
    assert "warning: No media node serves the allowed region(s) uk-1" in capsys.readouterr().err
    assert cli.main(["link", "create", "--api", url, "--key", env.operator_key, "--tenant", "acme",
                     "--title", "t", "--no-password"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_meeting_list_and_end(tmp_path: Path, capsys) -> None:
    holder: dict[str, Env] = {}
    with fake_node("node-eu-1", lambda: holder["env"].control.keyring.jwks()) as node:
        env = holder["env"] = make_env(tmp_path, node_http=node.url)
        with serve(env.client.app) as url:
            link = env.link(no_password=True, title="Board")
            room = env.join(link["link"]).json()["room"]
            key = ["--api", url, "--key", env.admin_key, "--tenant", "acme"]
            assert cli.main(["meeting", "list", *key]) == 0
            out = capsys.readouterr().out
            assert re.match(r"Board: 1 in, on node-eu-1 in EU Central \(Frankfurt, DE, EU\) since \d{4}-", out), out
            assert cli.main(["meeting", "end", *key, link["link"]]) == 0
            assert node.ended == [("acme", room)]
            capsys.readouterr()
            assert cli.main(["meeting", "list", *key]) == 0
            assert capsys.readouterr().out.strip() == "No meeting is running."
        env.control.close()


def test_an_api_url_that_redirects_never_gets_the_admin_key_elsewhere(live, capsys) -> None:
    """Every `--api` command refuses a redirect (urllib would carry `Authorization: Bearer` to its target): the
    server it points to sees no request, the command exits 1 and says why."""
    env, _ = live
    with redirect_trap() as (hostile, seen):
        assert cli.main(["link", "list", "--tenant", "acme", "--api", hostile, "--key", env.admin_key]) == 1
        err = capsys.readouterr().err
        assert cli.main(["link", "create", "--tenant", "acme", "--api", hostile, "--key", env.admin_key,
                         "--title", "t", "--no-password"]) == 1
    assert "redirect_refused" in err, err
    assert seen == []
