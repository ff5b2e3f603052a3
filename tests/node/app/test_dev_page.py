"""The node's development page imports the browser client's own simulcast and tile-size modules (one copy, the
client's): the node serves exactly those two under /dev/, nothing else of the client's directory."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import FileResponse

from sfu.app.signalling import CLIENT_SHARED, NodeSignalling


def fetch(name: str) -> Any:
    request = Request({"type": "http", "method": "GET", "path": f"/dev/{name}", "headers": [],
                       "path_params": {"name": name}})
    return asyncio.run(NodeSignalling.dev_shared(cast(NodeSignalling, None), request))


def test_the_shared_client_modules_are_served_from_the_client_directory() -> None:
    for name in ("simulcast.js", "viewport.js"):
        r = fetch(name)
        assert isinstance(r, FileResponse) and r.media_type == "text/javascript"
        assert CLIENT_SHARED[name].is_file() and CLIENT_SHARED[name].parent.name == "client"
        assert "export" in CLIENT_SHARED[name].read_text()


def test_nothing_else_of_the_client_directory_is_served() -> None:
    for name in ("session.js", "e2ee.js", "README.md", "..", "%2e%2e%2fsession.js", "simulcast.js.map"):
        assert fetch(name).status_code == 404, name
