"""A participant of another node marked as the meeting's recorder only on the control plane's word (issue 15 across
a cascade): a far node's `member` may carry its participant's join credential (`credential`, the join token the
control plane signed and that node admitted), and this node marks that participant `recorder: true` — in its
presence, so every member's client may hand it the link's secrets (docs/recording.md) — only when the credential
verifies here as a join does: the published key, EdDSA, issuer, times, and the claims — this meeting's tenant and
room, the announced participant as subject, role `recorder`, and a link not revoked. It is never consumed, and
carrying it (on the sealed lane) gives the receiver no way in: as a join it is refused everywhere — by every other
node for its audience (`wrong_audience`), by the node it was issued for as used (`replayed`) — and it expires in a
minute.

Its audience is the node that admitted it: from a far node, exactly that node (a far node presents only what was
issued to it, not a credential lifted from another node); from the meeting's home, any node (the home relays every
other node's participants, each verified on the home as it came in). A credential this node verified is kept for
the room's life, so the same one presented again after it expired (a re-dialled link announces everyone again; a
recorder runs for hours, its token for a minute) still marks its holder; a new one must be within its time.

What a hostile far node gets: it cannot mark anyone but a participant the control plane issued a recorder
credential for, in this meeting, to that node; a missing, forged, altered or misdirected credential marks nobody
and is counted (`relay_recorder_*`). The mark changes who members *consider*; the member's real check is still
the recorder key's attestation (a node cannot forge it). The mark counts towards the `required` hold here once
the recorder is also in the group (sfu/recording.py `recorders`: on the home by its own Delivery Service, elsewhere
on the home's verdict, sfu/cascade/verdicts.py), so one recorder releases it on every node of the meeting.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from signalling.tokens import LinkRevocations, TokenError, TokenVerifier

if TYPE_CHECKING:
    from sfu.cascade.link import Key

log = logging.getLogger("castellan.cascade")

MAX_CREDENTIAL = 8192  # a join token's length limit (signalling/tokens/verifying.py)
MAX_KEPT = 64  # verified credentials kept per meeting (a meeting has a recorder or two, replacements included)


class RecorderRoles:
    def __init__(self, verifier: TokenVerifier | None, revocations: LinkRevocations | None = None) -> None:
        self.verifier = verifier
        self.revocations = revocations
        # meeting -> participant -> the id (jti) of the credential verified for it here
        self.kept: dict[Key, dict[str, str]] = {}

    def refusal(self, key: Key, participant: str, credential: object, issued_for: str | None,
                now: float | None = None) -> str | None:
        """None if `credential` proves `participant` is meeting `key`'s recorder (module docstring); else why not,
        a short code (counted as `relay_recorder_<code>`)."""
        if not isinstance(credential, str) or not credential or len(credential) > MAX_CREDENTIAL:
            return "malformed"
        if self.verifier is None:
            return "unverifiable"  # this node has no key set to check it with
        now = time.time() if now is None else now
        try:
            try:
                claims = self.verifier.verify_presented(credential, issued_for, now)
            except TokenError as e:
                if e.code != "expired":
                    raise
                claims = self.verifier.verify_presented(credential, issued_for, now, times=False)
                if self.kept.get(key, {}).get(participant) != claims.jti:
                    raise
        except TokenError as e:
            return e.code
        if (claims.tenant, claims.room) != key:
            return "wrong_meeting"
        if claims.participant != participant:
            return "wrong_participant"
        if not claims.recorder:
            return "not_recorder"
        if self.revocations is not None and claims.link and self.revocations.is_revoked(claims.link):
            return "link_revoked"
        kept = self.kept.setdefault(key, {})
        if participant not in kept and len(kept) >= MAX_KEPT:
            kept.pop(next(iter(kept)))
        kept[participant] = claims.jti
        return None

    def forget(self, key: Key) -> None:
        """The meeting's room is gone from this node."""
        self.kept.pop(key, None)
