"""The recorder mark's evidence (sfu/cascade/roles.py), without a network: a join credential presented over a relay
link verifies as a join does (key, signature, issuer, audience = the node that admitted it, times, claims) but is
never consumed; the same credential presented again after it expired — a re-dialled link announces everyone again —
still marks its holder if this node verified it before in that meeting; a new expired one, or the old one once the
meeting is gone from this node, does not."""

from __future__ import annotations

import time

from sfu.cascade.roles import RecorderRoles
from signalling.tokens import KeyRing, TokenIssuer, TokenVerifier

KEY = ("eurocorp", "board")


def _mint(issuer: TokenIssuer, participant: str, now: float, role: str = "recorder") -> str:
    return issuer.mint(tenant=KEY[0], room=KEY[1], participant=participant, region="eu-2", node="eu-2-a",
                       recording="required", role=role, ttl=60, now=now)


def test_a_credential_verified_once_still_marks_its_holder_after_it_expired_and_is_never_consumed() -> None:
    keys = KeyRing()
    issuer = TokenIssuer(keys)
    roles = RecorderRoles(TokenVerifier(keys.jwks, "eu-1-a"))
    now = time.time()
    cred = _mint(issuer, "rec-1", now)
    assert roles.refusal(KEY, "rec-1", cred, "eu-2-a", now) is None
    assert roles.refusal(KEY, "rec-1", cred, "eu-2-a", now + 1) is None  # presented again: not single use
    assert roles.refusal(KEY, "rec-1", cred, "eu-2-a", now + 3600) is None  # re-announced an hour later
    assert roles.refusal(KEY, "rec-1", cred, None, now + 3600) is None  # (from the home: any audience)
    # a credential never seen here, expired: refused; nor does the kept one mark another participant
    late = _mint(issuer, "rec-2", now)
    assert roles.refusal(KEY, "rec-2", late, "eu-2-a", now + 3600) == "expired"
    assert roles.refusal(KEY, "rec-2", cred, "eu-2-a", now + 3600) == "expired"
    assert roles.refusal(KEY, "rec-1", cred, "eu-2-b", now) == "wrong_audience"
    roles.forget(KEY)  # the meeting left this node: its evidence goes with it
    assert roles.refusal(KEY, "rec-1", cred, "eu-2-a", now + 3600) == "expired"
    assert roles.refusal(KEY, "rec-1", _mint(issuer, "rec-1", now, role="participant"), "eu-2-a", now) == "not_recorder"
    assert RecorderRoles(None).refusal(KEY, "rec-1", cred, "eu-2-a", now) == "unverifiable"
