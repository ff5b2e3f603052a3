"""A joiner's region hint: the regional ingress it reached, as that ingress says (docs/architecture.md,
"Cascading"). Jitsi's nginx sets `deploymentInfo.userRegion` from a per-region proxy header; LiveKit routes by the
edge the client reached. Here the operator's regional ingress (or a GeoIP proxy) *sets* a header — its name
configured, `--region-header`, e.g. `X-Castellan-Region` — to its region id.

* The header counts only when the TCP peer is a trusted proxy, the rule X-Forwarded-For follows for rate limits
  (clientaddr.py, `--trust-forwarded-for` / `--trusted-proxies`). From any other peer it is ignored and counted
  (`untrusted`): a client reaching the control plane directly cannot pose as an ingress.
* One value, shaped like a region id; several values or anything else: ignored and counted (`malformed`).
* A believed header wins over the join body's `region_hint` (the client's own preference: API clients, the
  browser on a development build); without one, that preference is the hint.

Neither is ever more than a preference: placement (residency/placement.py) chooses among the tenant's allowed
regions only, so a forged header or hint can at most pick another allowed region — what `region_hint` already
lets any client do — never a region the policy refuses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .clientaddr import ForwardedRule, parse_address

HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
REGION_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")  # as specs.REGION_ID
# headers a proxy already uses for something else: naming one of them would mix two meanings
RESERVED = frozenset({"host", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-real-ip", "forwarded",
                      "authorization", "cookie", "content-type", "content-length", "connection", "upgrade"})

INGRESS, CLIENT, NONE = "ingress", "client", "none"
UNTRUSTED, MALFORMED = "untrusted", "malformed"


def header_name(name: str) -> str:
    """The configured header's name, lower-cased (ASGI's spelling); ValueError naming what is wrong."""
    if not HEADER_NAME.fullmatch(name):
        raise ValueError(f"not a header name: {name!r} (letters, digits and '-', at most 64)")
    if name.lower() in RESERVED:
        raise ValueError(f"{name!r} already means something else to proxies: choose a header of its own, "
                         "e.g. X-Castellan-Region")
    return name.lower()


@dataclass(frozen=True)
class RegionHint:
    region: str | None
    source: str  # INGRESS (a trusted proxy's header), CLIENT (the body's region_hint) or NONE
    ignored: str | None = None  # why a region header present was not believed: UNTRUSTED or MALFORMED


def region_hint(rule: ForwardedRule, peer: str, header: Sequence[str] | None, asked: str | None) -> RegionHint:
    """The hint for a join from `peer`: `header` is the configured header's lines (None: no header configured),
    `asked` the body's region_hint (already checked against the region id shape by the request schema)."""
    ignored = None
    if header:
        address = parse_address(peer)
        if address is None or not rule.is_trusted(address):
            ignored = UNTRUSTED
        elif len(header) == 1 and REGION_ID.fullmatch(header[0].strip()):
            return RegionHint(header[0].strip(), INGRESS)
        else:
            ignored = MALFORMED
    if asked:
        return RegionHint(asked, CLIENT, ignored)
    return RegionHint(None, NONE, ignored)
