"""Castellan data residency: tenants, jurisdictions, regions, fail-closed placement, node-side refusal and a
verifiable hash-chained audit log.

Read in this order: errors -> model -> catalogue (+ jurisdictions.json) -> policy -> placement -> registry ->
audit -> enforcement -> service (the facade the control plane uses) -> cli.
The pure core (model, catalogue parsing, policy, placement) does no I/O; storage lives at the edges (db, store,
audit, registry).
"""

from .errors import (
    AdmissionRefused,
    Conflict,
    InvalidInput,
    NotFound,
    PlacementRefused,
    PolicyViolation,
    RegistryError,
    ResidencyError,
    VerificationFailed,
)
from .model import Jurisdiction, Node, OptIn, Placement, Region, Tenant, TenantView

__all__ = [
    "AdmissionRefused", "Conflict", "InvalidInput", "Jurisdiction", "Node", "NotFound", "OptIn", "Placement",
    "PlacementRefused", "PolicyViolation", "Region", "RegistryError", "ResidencyError", "Tenant", "TenantView",
    "VerificationFailed",
]
