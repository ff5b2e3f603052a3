"""The three residency rules, told as an EU tenant's admin would meet them, plus bad input.

RULE 1: own jurisdiction allowed by default. RULE 2: an adequate jurisdiction needs an explicit, reasoned
opt-in. RULE 3: anything else is refused, and no opt-in changes that. Bad input never half-applies.
"""

from __future__ import annotations

import pytest

from residency.audit import chain_of
from residency.errors import InvalidInput, NotFound, PolicyViolation, ResidencyError
from residency.service import ResidencyService


def test_by_default_a_tenant_may_use_only_regions_of_its_own_jurisdiction(svc: ResidencyService) -> None:
    assert set(svc.allowed_regions("acme")) == {"eu-1", "eu-2"}
    assert "RULE 1" in svc.allowed_regions("acme")["eu-1"]
    # The node-readable view in the registry says the same.
    view = svc.registry.get_tenant_view("acme")
    assert view is not None and view.allowed_regions == {"eu-1", "eu-2"}


def test_a_new_region_of_the_own_jurisdiction_joins_the_default(svc: ResidencyService) -> None:
    svc.define_region("eu-3", "EU", "Dublin, IE", "EU North-West", actor="operator")
    assert set(svc.allowed_regions("acme")) == {"eu-1", "eu-2", "eu-3"}
    assert svc.registry.get_tenant_view("acme").allowed_regions == {"eu-1", "eu-2", "eu-3"}  # type: ignore[union-attr]


def test_admin_can_narrow_to_one_region(svc: ResidencyService) -> None:
    svc.set_allowed_regions("acme", ["eu-2"], actor="admin:alice", reason="keep media in France")
    assert set(svc.allowed_regions("acme")) == {"eu-2"}


def test_an_adequate_region_needs_an_explicit_opt_in(svc: ResidencyService) -> None:
    with pytest.raises(PolicyViolation) as err:
        svc.set_allowed_regions("acme", ["eu-1", "ch-1"], actor="admin:alice", reason="Swiss office")
    assert err.value.code == "opt_in_required" and "RULE 2" in err.value.message


def test_with_a_reasoned_opt_in_the_adequate_region_is_allowed_and_recorded(svc: ResidencyService) -> None:
    tenant = svc.set_allowed_regions("acme", ["eu-1", "ch-1"], actor="admin:alice", reason="Swiss office",
                                     opt_ins={"ch-1": "staff in Zurich need low latency"})
    opt_in = tenant.opt_in_for("ch-1")
    assert opt_in is not None and opt_in.actor == "admin:alice" and "Zurich" in opt_in.reason
    why = svc.allowed_regions("acme")["ch-1"]
    assert "2000/518/EC" in why and "admin:alice" in why and "RULE 2" in why
    record = svc.audit.tenant_records("acme")[-1]
    assert record.kind == "policy.changed" and record.actor == "admin:alice"
    assert record.data["reason"] == "Swiss office"
    assert record.data["after"]["opt_ins"] == [
        {"region": "ch-1", "reason": "staff in Zurich need low latency", "actor": "admin:alice"}]
    assert record.data["before"]["allowed_regions"] is None


def test_a_region_outside_own_and_adequate_jurisdictions_is_refused_even_with_an_opt_in(
        svc: ResidencyService) -> None:
    with pytest.raises(PolicyViolation) as err:
        svc.set_allowed_regions("acme", ["eu-1", "au-1"], actor="admin:alice", reason="Sydney office",
                                opt_ins={"au-1": "we really want it"})
    assert err.value.code == "region_not_permitted"
    assert "RULE 3" in err.value.message and "au-1" in err.value.message


def test_opt_ins_survive_later_changes_that_keep_the_region(svc: ResidencyService) -> None:
    svc.set_allowed_regions("acme", ["eu-1", "ch-1"], actor="admin:alice", reason="r",
                            opt_ins={"ch-1": "Zurich office"})
    tenant = svc.set_allowed_regions("acme", ["eu-1", "eu-2", "ch-1"], actor="admin:bob", reason="add Paris")
    assert tenant.opt_in_for("ch-1").reason == "Zurich office"  # type: ignore[union-attr]
    tenant = svc.set_allowed_regions("acme", ["eu-1"], actor="admin:bob", reason="EU only again")
    assert tenant.opt_ins == ()


@pytest.mark.parametrize("regions, opt_ins, code", [
    (["eu-1", "eu-1"], None, "contradictory_policy"),                 # listed twice
    (["eu-1"], {"eu-1": "why"}, "contradictory_policy"),              # opt-in for own jurisdiction
    (["eu-1"], {"ch-1": "why"}, "contradictory_policy"),              # opt-in for a region not allowed
    (None, {"ch-1": "why"}, "contradictory_policy"),                  # opt-ins with the default policy
    ([], None, "empty_policy"),                                       # allows nothing
    (["eu-1", "mars-1"], None, "unknown_region"),                     # not defined by the operator
    (["eu-1", "ch-1"], {"ch-1": "   "}, "reason_required"),           # blank opt-in reason
    ("eu-1", None, "invalid_policy"),                                 # a string, not a list
    (["eu-1", 7], None, "invalid_policy"),                            # not a region id at all
])
def test_bad_policies_are_refused_and_nothing_is_half_applied(
        svc: ResidencyService, regions: list[str] | None, opt_ins: dict[str, str] | None, code: str) -> None:
    svc.set_allowed_regions("acme", ["eu-1", "ch-1"], actor="admin:alice", reason="start",
                            opt_ins={"ch-1": "Zurich"})
    before_tenant = svc.get_tenant("acme")
    before_log = svc.audit.tenant_records("acme")
    before_view = svc.registry.get_tenant_view("acme")
    with pytest.raises(ResidencyError) as err:
        svc.set_allowed_regions("acme", regions, actor="admin:mallory", reason="try", opt_ins=opt_ins)
    assert err.value.code == code
    assert svc.get_tenant("acme") == before_tenant
    assert svc.registry.get_tenant_view("acme") == before_view
    # The only trace is the audited refusal: who tried what, and which rule said no.
    after_log = svc.audit.tenant_records("acme")
    assert after_log[:-1] == before_log
    assert after_log[-1].kind == "policy.refused" and after_log[-1].actor == "admin:mallory"
    assert after_log[-1].data["code"] == code


def test_a_policy_change_needs_a_reason(svc: ResidencyService) -> None:
    with pytest.raises(InvalidInput) as err:
        svc.set_allowed_regions("acme", ["eu-1"], actor="admin:alice", reason="")
    assert err.value.code == "reason_required"


def test_unknown_tenants_and_jurisdictions_are_clear_errors(svc: ResidencyService) -> None:
    with pytest.raises(NotFound) as err:
        svc.set_allowed_regions("nobody", ["eu-1"], actor="admin", reason="r")
    assert err.value.code == "unknown_tenant"
    with pytest.raises(NotFound) as err:
        svc.create_tenant("globex", "Globex", "ATLANTIS", actor="operator")
    assert err.value.code == "unknown_jurisdiction"
    with pytest.raises(NotFound) as err:
        svc.define_region("x-1", "ATLANTIS", "Nowhere", "X", actor="operator")
    assert err.value.code == "unknown_jurisdiction"
    assert "globex" not in {t.id for t in svc.tenants()} and "x-1" not in svc.regions()


def test_creating_a_tenant_with_a_bad_policy_creates_nothing(svc: ResidencyService) -> None:
    with pytest.raises(PolicyViolation):
        svc.create_tenant("globex", "Globex", "EU", actor="operator", allowed_regions=["eu-1", "au-1"])
    assert "globex" not in {t.id for t in svc.tenants()}
    assert svc.registry.get_tenant_view("globex") is None
    assert "tenant:globex" not in svc.audit.chains()  # no chain for a tenant that does not exist ...
    refusal = svc.audit.records("deployment")[-1]  # ... the refusal is on the deployment chain
    assert refusal.kind == "tenant.refused" and refusal.data["code"] == "region_not_permitted"
    assert refusal.data["attempt"]["allowed_regions"] == ["eu-1", "au-1"]
    assert chain_of("globex") == "tenant:globex"


def test_regions_cannot_be_silently_moved_to_another_jurisdiction(svc: ResidencyService) -> None:
    svc.define_region("eu-1", "EU", "Frankfurt, DE", "EU Central", actor="operator")  # identical: fine
    with pytest.raises(ResidencyError) as err:
        svc.define_region("eu-1", "US", "Frankfurt, DE", "EU Central", actor="operator")
    assert err.value.code == "region_exists"
    assert svc.regions()["eu-1"].jurisdiction == "EU"


def test_identifiers_are_validated(svc: ResidencyService) -> None:
    with pytest.raises(InvalidInput) as err:
        svc.create_tenant("Bad:Tenant", "x", "EU", actor="operator")
    assert err.value.code == "invalid_tenant_id"


def test_a_swiss_tenant_follows_swiss_law(svc: ResidencyService) -> None:
    svc.create_tenant("helvetia", "Helvetia AG", "CH", actor="operator")
    assert set(svc.allowed_regions("helvetia")) == {"ch-1"}
    svc.set_allowed_regions("helvetia", ["ch-1", "eu-1"], actor="admin:heidi", reason="EU customers",
                            opt_ins={"eu-1": "DPO Annex 1 lists the EU"})
    assert set(svc.allowed_regions("helvetia")) == {"ch-1", "eu-1"}
    with pytest.raises(PolicyViolation):  # Switzerland does not recognise Australia
        svc.set_allowed_regions("helvetia", ["ch-1", "au-1"], actor="admin:heidi", reason="r",
                                opt_ins={"au-1": "x"})
