"""What a link's join page tells every participant about recording before they join (GET /v1/links/{link},
`recording`: {policy, text}); the meeting's indicator (signalling/client/recording-indicator.js) keeps it on."""

from __future__ import annotations

from residency.db import Database

from .policy import notice
from .settings import policy_for


def recording_notice(db: Database, tenant: str, link: str) -> dict[str, str]:
    p = policy_for(db, tenant, link)
    return {"policy": p.value, "text": notice(p, recording=False).text}
