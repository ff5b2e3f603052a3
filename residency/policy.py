"""The residency rules, as pure functions (no I/O). This is the module to read first.

Three rules decide whether tenant T may have media processed in region R (jurisdiction J = R.jurisdiction):

  RULE 1 (own jurisdiction)  J == T.jurisdiction                      -> allowed by default.
  RULE 2 (adequacy opt-in)   the catalogue says T.jurisdiction
                             recognises J as adequate                 -> allowed only if an admin opted in to R
                                                                         explicitly, with a recorded reason.
  RULE 3 (everything else)                                            -> refused; no opt-in can allow it.

On top of the rules the admin may *narrow* the set: `Tenant.allowed_regions` (None = every region allowed by
RULE 1). A policy document is validated as a whole before anything is stored (`validate_policy`), so bad
input never half-applies. `effective_regions` re-checks every stored region against the rules each time it is
used, so a catalogue or region change can only ever shrink what a tenant may use (fail closed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .catalogue import Catalogue
from .errors import InvalidInput, NotFound, PolicyViolation
from .model import OptIn, Region, Tenant, TenantView, check_reason

RULE_OWN = "RULE 1 (own jurisdiction)"
RULE_ADEQUATE = "RULE 2 (adequacy opt-in)"
RULE_REFUSED = "RULE 3 (no adequacy)"


def rule_for(tenant_jurisdiction: str, region: Region, catalogue: Catalogue) -> str:
    """Which rule applies to a region for a tenant of `tenant_jurisdiction` (RULE_OWN/ADEQUATE/REFUSED)."""
    if region.jurisdiction == tenant_jurisdiction:
        return RULE_OWN
    home = catalogue.get_jurisdiction(tenant_jurisdiction)
    if home.recognises(region.jurisdiction) is not None:
        return RULE_ADEQUATE
    return RULE_REFUSED


def _refused(tenant: Tenant, region: Region, home_code: str) -> PolicyViolation:
    return PolicyViolation("region_not_permitted",
                           f"region {region.id} is in {region.jurisdiction}, which is neither tenant {tenant.id}'s "
                           f"jurisdiction {home_code} nor recognised by it as adequate [{RULE_REFUSED}]")


def _needs_opt_in(tenant: Tenant, region: Region, home_code: str) -> PolicyViolation:
    return PolicyViolation("opt_in_required",
                           f"region {region.id} is in {region.jurisdiction}, which {home_code} recognises as "
                           f"adequate: allowing it needs an explicit admin opt-in with a reason, and tenant "
                           f"{tenant.id} has none [{RULE_ADEQUATE}]")


def explain(tenant: Tenant, region: Region, catalogue: Catalogue) -> str:
    """Why `tenant` may use `region`, in words for participants and auditors; raises if it may not."""
    rule = rule_for(tenant.jurisdiction, region, catalogue)
    home = catalogue.get_jurisdiction(tenant.jurisdiction)
    where = f"{region.display_name} ({region.location}, jurisdiction {region.jurisdiction})"
    if tenant.allowed_regions is not None and region.id not in tenant.allowed_regions:
        raise PolicyViolation("region_not_allowed",
                              f"region {region.id} is not among the regions tenant {tenant.id}'s admin allowed")
    if rule == RULE_OWN:
        return f"{where}: in the tenant's own jurisdiction {home.name} [{RULE_OWN}]"
    if rule == RULE_REFUSED:
        raise _refused(tenant, region, home.code)
    opt_in = tenant.opt_in_for(region.id)
    adequacy = home.recognises(region.jurisdiction)
    if opt_in is None or tenant.allowed_regions is None or adequacy is None:
        raise _needs_opt_in(tenant, region, home.code)
    return (f"{where}: {home.code} recognises {region.jurisdiction} as adequate ({adequacy.source}; scope: "
            f"{adequacy.scope}); admin {opt_in.actor} opted in: {opt_in.reason} [{RULE_ADEQUATE}]")


def effective_regions(tenant: Tenant, regions: Mapping[str, Region], catalogue: Catalogue) -> dict[str, str]:
    """Region id -> explanation, for every defined region the tenant may use right now.

    Regions that fail the rules (or vanished) are silently left out: placement then refuses rather than spills.
    """
    candidates: Iterable[str] = regions if tenant.allowed_regions is None else tenant.allowed_regions
    result: dict[str, str] = {}
    for region_id in sorted(candidates):
        region = regions.get(region_id)
        if region is None:
            continue
        if tenant.allowed_regions is None and region.jurisdiction != tenant.jurisdiction:
            continue  # the default never includes foreign regions
        try:
            result[region_id] = explain(tenant, region, catalogue)
        except PolicyViolation:
            continue
    return result


def tenant_view(tenant: Tenant, regions: Mapping[str, Region], catalogue: Catalogue) -> TenantView:
    """The resolved policy nodes read from the registry (they need neither the catalogue nor opt-in reasons)."""
    return TenantView(tenant=tenant.id, jurisdiction=tenant.jurisdiction,
                      allowed_regions=frozenset(effective_regions(tenant, regions, catalogue)),
                      version=tenant.version)


def validate_policy(
    tenant: Tenant,
    allowed: Iterable[str] | None,
    opt_ins: Mapping[str, str] | None,
    actor: str,
    now: float,
    regions: Mapping[str, Region],
    catalogue: Catalogue,
) -> Tenant:
    """Check a whole new policy for `tenant` and return the updated Tenant, or raise without changing anything.

    `allowed=None` restores the default (own-jurisdiction regions only). `opt_ins` maps foreign region id ->
    reason; a foreign region still allowed keeps its earlier opt-in unless a new reason is given.
    """
    opt_ins = dict(opt_ins or {})
    catalogue.get_jurisdiction(tenant.jurisdiction)
    if allowed is None:
        if opt_ins:
            raise InvalidInput("contradictory_policy",
                               "opt-ins were given but the policy is the default (own jurisdiction only); "
                               "list the opted-in regions in allowed_regions")
        return tenant.with_policy(None, ())
    if isinstance(allowed, str):
        raise InvalidInput("invalid_policy", "allowed_regions must be a list of region ids, not a string")
    listed = list(allowed)
    if not all(isinstance(r, str) for r in [*listed, *opt_ins]):
        raise InvalidInput("invalid_policy", "region ids must be strings")
    if not listed:
        raise InvalidInput("empty_policy", "a tenant must allow at least one region (an empty list would refuse "
                                           "every meeting); use the default instead")
    duplicates = sorted({r for r in listed if listed.count(r) > 1})
    if duplicates:
        raise InvalidInput("contradictory_policy", f"region(s) listed twice: {', '.join(duplicates)}")
    unknown = sorted(r for r in set(listed) | set(opt_ins) if r not in regions)
    if unknown:
        raise NotFound("unknown_region", f"unknown region(s): {', '.join(unknown)} "
                                         f"(defined: {', '.join(sorted(regions)) or 'none'})")
    stray = sorted(set(opt_ins) - set(listed))
    if stray:
        raise InvalidInput("contradictory_policy",
                           f"opt-in given for region(s) not in allowed_regions: {', '.join(stray)}")
    new_opt_ins: list[OptIn] = []
    for region_id in sorted(listed):
        rule = rule_for(tenant.jurisdiction, regions[region_id], catalogue)
        if rule == RULE_OWN:
            if region_id in opt_ins:
                raise InvalidInput("contradictory_policy",
                                   f"region {region_id} is in the tenant's own jurisdiction and needs no opt-in")
            continue
        if rule == RULE_REFUSED:
            raise _refused(tenant, regions[region_id], tenant.jurisdiction)
        if region_id in opt_ins:
            reason = check_reason(opt_ins[region_id], f"opt-in to region {region_id}")
            new_opt_ins.append(OptIn(region=region_id, reason=reason, actor=actor, at=now))
        elif (previous := tenant.opt_in_for(region_id)) is not None:
            new_opt_ins.append(previous)  # an earlier opt-in stays valid while the region stays allowed
        else:
            raise _needs_opt_in(tenant, regions[region_id], tenant.jurisdiction)
    return tenant.with_policy(frozenset(listed), tuple(new_opt_ins))
