"""The access log without secrets. Paths carry meeting link ids (`/j/<link>`, `/v1/links/<link>`,
`/v1/tenants/<t>/links/<link>`) and waiting-room tickets (`/v1/lobby/<ticket>`): whoever reads the log could join
or take a participant's place. Every run of 20 or more URL-safe characters in a logged path or query (after
percent-decoding) is written as `<redacted>`; short ids (tenants, key ids, regions) stay readable.

`install()` puts the filter on uvicorn's access logger; `create_app` calls it, so however the app is served by
uvicorn its access log is redacted.
"""

from __future__ import annotations

import logging
import re
import urllib.parse

SECRET_RUN = re.compile(r"[A-Za-z0-9_-]{20,}")
REDACTED = "<redacted>"
ACCESS_LOGGER = "uvicorn.access"


def redact(path: str) -> str:
    return SECRET_RUN.sub(REDACTED, urllib.parse.unquote(path))


class RedactSecrets(logging.Filter):
    """uvicorn logs an access line as (client, method, path with query, HTTP version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        elif isinstance(record.msg, str) and not args:
            record.msg = redact(record.msg)
        return True


def install(logger: logging.Logger | None = None) -> None:
    target = logger or logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, RedactSecrets) for f in target.filters):
        target.addFilter(RedactSecrets())
