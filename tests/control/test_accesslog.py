"""The control plane's access log keeps paths readable but never the link ids or lobby tickets in them."""

from __future__ import annotations

import logging

from uvicorn.logging import AccessFormatter

from signalling.control import accesslog
from signalling.control.linkids import LinkSigner

LINK = LinkSigner(b"k" * 32).new()
TICKET = "T" * 16 + "-" + "t" * 15


def line(path: str) -> str:
    """The line uvicorn writes for one request, after the filter `create_app` installs."""
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("203.0.113.9:5000", "GET", path, "1.1", 200), None)
    assert accesslog.RedactSecrets().filter(record)
    return AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False).format(record)


def test_link_ids_and_tickets_are_redacted_in_every_route_that_carries_them() -> None:
    for path in (f"/j/{LINK}", f"/v1/links/{LINK}", f"/v1/links/{LINK}/lobby", f"/v1/links/{LINK}/lobby/{TICKET}",
                 f"/v1/tenants/acme/links/{LINK}", f"/v1/tenants/acme/links/{LINK}/revoke",
                 f"/v1/lobby/{TICKET}?wait=25", f"/j/{LINK[:10]}%2D{LINK[11:]}",  # percent-encoded: still caught
                 f"/nope?link={LINK}"):
        out = line(path)
        assert LINK not in out and TICKET not in out and LINK[11:] not in out, out
        assert accesslog.REDACTED in out
    assert '"GET /v1/lobby/<redacted>?wait=25 HTTP/1.1" 200' in line(f"/v1/lobby/{TICKET}?wait=25")


def test_ordinary_paths_stay_readable() -> None:
    for path in ("/v1/join", "/v1/tenants/acme/links", "/v1/tenants/acme/admin-keys/0123456789abcdef", "/healthz",
                 "/.well-known/jwks.json", "/static/join.js"):
        assert f'"GET {path} HTTP/1.1"' in line(path)


def test_create_app_installs_the_filter_on_uvicorns_access_logger(tmp_path) -> None:
    from tests.control.cp_env import make_env

    logger = logging.getLogger(accesslog.ACCESS_LOGGER)
    env = make_env(tmp_path)
    assert sum(isinstance(f, accesslog.RedactSecrets) for f in logger.filters) == 1
    env.control.close()
