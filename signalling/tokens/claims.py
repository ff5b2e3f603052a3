"""What a join token says: the issuer and the one accepted algorithm, the claims a node acts on, and the refusal."""

from __future__ import annotations

from dataclasses import dataclass

ISSUER = "castellan"
ALGORITHM = "EdDSA"


class TokenError(Exception):
    """A refused token. `code` is stable for clients and metrics; the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class JoinClaims:
    tenant: str
    room: str
    participant: str
    region: str
    node: str
    name: str = ""
    jti: str = ""
    exp: int = 0
    link: str = ""
    host: bool = False
    # compliance recording (docs/recording.md): the meeting's effective policy, signed here so no client can loosen
    # it, and whether this credential is the meeting's recorder (issued only by the recorder endpoint)
    recording: str = "off"
    recorder: bool = False


ROLES = ("participant", "recorder")
RECORDING_POLICIES = ("off", "allowed", "required")
