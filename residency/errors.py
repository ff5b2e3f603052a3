"""Every refusal in `residency` is a `ResidencyError` carrying a stable machine `code` and a human `message`.

Why one hierarchy: the control plane maps errors to HTTP answers by class (and shows `message` to users),
the audit log records `code`, and tests assert on `code` rather than on wording.
"""

from __future__ import annotations


class ResidencyError(Exception):
    """Base class. `code` is stable (snake_case), `message` is for people and names the rule that refused."""

    code: str = "residency_error"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class InvalidInput(ResidencyError):
    """Malformed input: bad identifiers, empty reasons, contradictory policy documents (HTTP 400)."""


class NotFound(ResidencyError):
    """Unknown tenant, region, jurisdiction or node (HTTP 404 / 400)."""


class Conflict(ResidencyError):
    """The thing already exists with different content (HTTP 409)."""


class PolicyViolation(ResidencyError):
    """A tenant policy would allow a region the residency rules forbid (HTTP 403/422)."""


class PlacementRefused(ResidencyError):
    """No healthy node in any allowed region: the join fails closed, it never spills (HTTP 503).

    `message` is written for the participant who is trying to join.
    """


class AdmissionRefused(ResidencyError):
    """A node refused a join token (node-side enforcement; WebSocket close / HTTP 403)."""


class CatalogueError(ResidencyError):
    """The jurisdiction catalogue file is inconsistent (startup error)."""


class AuditError(ResidencyError):
    """Writing to the audit log failed (e.g. a value that has no canonical encoding)."""


class VerificationFailed(ResidencyError):
    """An exported audit file is not an unbroken, genuinely signed chain."""


class RegistryError(ResidencyError):
    """The registry (Redis) could not be reached or answered nonsense (HTTP 503, readyz false)."""


class StoreUnavailable(ResidencyError):
    """The database could not be reached (restarting, failing over): HTTP 503 with Retry-After, retry."""


class SchemaOutdated(ResidencyError):
    """The database's schema is older than this code and automatic upgrade is off (startup error)."""


class NodeRejected(ResidencyError):
    """A node record in the registry that no enrolled key vouches for (unsigned, unknown key, bad signature,
    wrong region, stale or replayed): the control plane ignores it and counts it."""


class RelayRefused(ResidencyError):
    """A node-to-node relay of a meeting refused (residency/relay.py): the peer is not an enrolled node of a
    region the tenant allows, claims another node's identity, replays or forges a message. Nothing is relayed."""
