"""The operator's recording configuration, read at the edge: tenant keys (`--tenant-keys FILE`, JSON
`{"<tenant>": {"id": "<key label>", "key": "<32 bytes, base64>"}}`, mode 0600 recommended) and the volume."""

from __future__ import annotations

import json
from pathlib import Path

from .envelope import EnvelopeError, parse_tenant_key


def load_tenant_keys(path: str | Path) -> dict[str, tuple[str, bytes]]:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise EnvelopeError(f"tenant keys file {path}: {e}") from e
    if not isinstance(doc, dict):
        raise EnvelopeError(f"tenant keys file {path}: expected an object of tenant -> {{id, key}}")
    out = {}
    for tenant, v in doc.items():
        if not isinstance(v, dict) or not isinstance(v.get("id"), str) or not isinstance(v.get("key"), str):
            raise EnvelopeError(f"tenant keys file {path}: {tenant!r} needs \"id\" and \"key\" strings")
        out[str(tenant)] = (v["id"], parse_tenant_key(v["key"]))
    return out
