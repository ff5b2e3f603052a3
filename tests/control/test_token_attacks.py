"""Every way to forge, stretch or reuse a join token is refused with a clear, stable error code.

The node verifies with `TokenVerifier` (signature, algorithm, key id, audience, time, single use) and then its
`Admission` (sfu/admission.py: region, tenant policy, revoked link). Tokens here come from the real control
plane's join endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from residency.audit import AuditLog
from residency.enforcement import NodeGuard
from sfu.admission import Admission, JoinRefused
from signalling.tokens import JoinClaims, KeyRing, RevocationSet, TokenError, TokenIssuer, TokenVerifier
from tests.control.cp_env import Env


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parts(token: str) -> tuple[dict, dict, str]:
    h, p, s = token.split(".")
    return (json.loads(base64.urlsafe_b64decode(h + "==")), json.loads(base64.urlsafe_b64decode(p + "==")), s)


def reassemble(header: dict, payload: dict, sig: str) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.{sig}"


@pytest.fixture
def joined(env: Env) -> dict:
    link = env.link(no_password=True)
    r = env.join(link["link"])
    assert r.status_code == 200, r.text
    return {**r.json(), "link": link["link"]}


def refused(env: Env, token: str, code: str, node: str = "node-eu-1") -> None:
    with pytest.raises(TokenError) as e:
        env.verifier(node).verify(token)
    assert e.value.code == code, e.value.message
    assert e.value.message


def test_the_genuine_token_is_accepted_once(env: Env, joined: dict) -> None:
    claims = env.verifier().verify(joined["token"])
    assert (claims.tenant, claims.room, claims.region, claims.participant) == (
        "acme", joined["room"], "eu-1", joined["participant"])
    assert claims.link == joined["link"]


def test_alg_none_is_refused(env: Env, joined: dict) -> None:
    header, payload, _ = parts(joined["token"])
    forged = reassemble({**header, "alg": "none"}, payload, "")
    refused(env, forged, "alg_not_allowed")


def test_hs256_signed_with_the_public_key_is_refused(env: Env, joined: dict) -> None:
    """Key confusion: an attacker HMACs with the published public key, hoping it is used as the HMAC secret."""
    header, payload, _ = parts(joined["token"])
    jwk = env.control.keyring.jwks()["keys"][0]
    for secret in (base64.urlsafe_b64decode(jwk["x"] + "="),
                   env.control.keyring.current.private.public_key().public_bytes(
                       serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)):
        signing_input = f"{b64(json.dumps({**header, 'alg': 'HS256'}).encode())}.{b64(json.dumps(payload).encode())}"
        sig = b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())
        refused(env, f"{signing_input}.{sig}", "alg_not_allowed")


def test_a_token_signed_with_another_key_under_a_published_kid_is_refused(env: Env, joined: dict) -> None:
    header, payload, _ = parts(joined["token"])
    forged = jwt.encode(payload, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": header["kid"]})
    refused(env, forged, "bad_signature")


def test_a_token_with_an_unknown_kid_is_refused(env: Env, joined: dict) -> None:
    header, payload, _ = parts(joined["token"])
    forged = jwt.encode(payload, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "attacker"})
    refused(env, forged, "unknown_key")


def test_an_expired_token_is_refused(env: Env) -> None:
    issuer = TokenIssuer(env.control.keyring)
    old = issuer.mint(tenant="acme", room="r", participant="p", region="eu-1", node="node-eu-1",
                      ttl=60, now=time.time() - 3600)
    refused(env, old, "expired")


def test_a_token_not_yet_valid_is_refused(env: Env) -> None:
    issuer = TokenIssuer(env.control.keyring)
    future = issuer.mint(tenant="acme", room="r", participant="p", region="eu-1", node="node-eu-1",
                         now=time.time() + 3600)
    refused(env, future, "not_yet_valid")


def resigned(env: Env, token: str, **changes: object) -> str:
    """The token with claims changed and signed again with the control plane's real current key (as a
    compromised or badly clocked issuer would): only the verifier's own rules can refuse it."""
    header, payload, _ = parts(token)
    key = env.control.keyring.current
    return jwt.encode({**payload, **changes}, key.private, algorithm="EdDSA", headers={"kid": key.kid})


def second_spellings(token: str) -> list[str]:
    """Other spellings of the same signed token that a lenient base64url decoder reads as the same bytes:
    `=` padding on a segment, and stray low bits in a segment's last character (an Ed25519 signature is 64
    bytes = 86 characters, whose last one carries 4 unused bits)."""
    h, p, sig = token.split(".")
    assert len(sig) == 86
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    stray = alphabet[alphabet.index(sig[-1]) ^ 0b0001]
    assert base64.urlsafe_b64decode(sig[:-1] + stray + "==") == base64.urlsafe_b64decode(sig + "==")
    out = [f"{h}.{p}.{sig}==", f"{h}.{p}.{sig[:-1]}{stray}", f"{h}.{p}.{sig}" + "=" * 4]
    if len(p) % 4:
        out.append(f"{h}.{p}{'=' * (-len(p) % 4)}.{sig}")
    if len(h) % 4:
        out.append(f"{h}{'=' * (-len(h) % 4)}.{p}.{sig}")
    return out


def test_a_second_spelling_of_a_genuine_join_token_is_refused_before_its_first_use(env: Env, joined: dict) -> None:
    """Attacker: a padded or bit-twiddled copy of a token verifies, so only the single-use cache stood between
    the copy and a second admission. Each copy must be refused on its own, on a fresh verifier."""
    for spelling in second_spellings(joined["token"]):
        refused(env, spelling, "malformed")
    env.verifier().verify(joined["token"])   # the one canonical spelling still works


def test_a_second_spelling_of_an_admin_token_is_refused(env: Env) -> None:
    admin = env.control.issuer.mint_admin(node="node-eu-1", scope="room:end")
    for spelling in second_spellings(admin):
        with pytest.raises(TokenError) as e:
            env.verifier().verify_admin(spelling, "room:end")
        assert e.value.code == "malformed"
    assert env.verifier().verify_admin(admin, "room:end")["scope"] == "room:end"


def test_a_token_issued_a_day_in_the_future_is_refused(env: Env, joined: dict) -> None:
    _, payload, _ = parts(joined["token"])
    refused(env, resigned(env, joined["token"], iat=payload["iat"] + 86400), "not_yet_valid")
    admin = env.control.issuer.mint_admin(node="node-eu-1", scope="room:end")
    with pytest.raises(TokenError) as e:
        env.verifier().verify_admin(resigned(env, admin, iat=parts(admin)[1]["iat"] + 86400), "room:end")
    assert e.value.code == "not_yet_valid"


def test_iat_within_the_leeway_is_accepted_and_just_beyond_it_refused(env: Env, joined: dict) -> None:
    """Clocks drift: an issuer a second ahead is fine (leeway 2 s); three seconds ahead is not."""
    now = time.time()
    ok = resigned(env, joined["token"], iat=int(now) + 1)
    assert env.verifier().verify(ok, now=now).room == joined["room"]
    refused(env, resigned(env, joined["token"], iat=int(now) + 4, jti="other"), "not_yet_valid")


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_non_finite_times_are_refused(env: Env, joined: dict, claim: str) -> None:
    """JSON as Python reads it allows Infinity and NaN: an `exp` of Infinity would never expire."""
    _, payload, _ = parts(joined["token"])
    value = {"exp": float("inf"), "nbf": float("-inf"), "iat": float("nan")}[claim]
    refused(env, resigned(env, joined["token"], **{claim: value}), "malformed")


def test_a_token_for_another_node_is_refused(env: Env, joined: dict) -> None:
    refused(env, joined["token"], "wrong_audience", node="node-eu-2")


def admit(admission: Admission, claims: JoinClaims) -> str | None:
    """The node's gate on verified claims: the refusal's code, or None when admitted."""
    try:
        admission.check(claims, draining=False, registry_ok=True)
    except JoinRefused as e:
        assert e.message
        return e.code
    return None


def test_a_token_for_another_region_is_refused_by_the_node(env: Env, joined: dict) -> None:
    claims = env.verifier().verify(joined["token"])
    assert admit(Admission(region="us-1"), claims) == "wrong_region"


def test_a_tenant_policy_that_disallows_the_region_is_refused(env: Env, joined: dict, tmp_path) -> None:
    """The tenant narrowed its regions after the token was issued: the node's registry view refuses it."""
    claims = env.verifier().verify(joined["token"])
    env.residency.define_region("eu-2", "EU", "Paris, FR", "EU West", actor="operator")
    env.residency.set_allowed_regions("acme", ["eu-2"], actor="admin:alice", reason="France only")
    guard = NodeGuard("node-eu-1", "eu-1", env.residency.registry, AuditLog(str(tmp_path / "node-audit.db")))
    assert admit(Admission(region="eu-1", guard=guard), claims) == "region_not_allowed"


def test_a_token_from_a_revoked_link_is_refused(env: Env, joined: dict) -> None:
    """Revoked after the token was issued (within its 60 s): the node asks the control plane's revocations."""
    admission = Admission(region="eu-1", revocations=env.control.revocations)
    r = env.client.post(f"/v1/tenants/acme/links/{joined['link']}/revoke", json={}, headers=env.admin())
    assert r.status_code == 200, r.text
    claims = env.verifier().verify(joined["token"])
    assert admit(admission, claims) == "link_revoked"
    assert env.client.get("/v1/revocations").json() == {"links": [joined["link"]], "window": 3600}


def test_a_replayed_token_is_refused(env: Env, joined: dict) -> None:
    verifier = env.verifier()
    verifier.verify(joined["token"])
    with pytest.raises(TokenError) as e:
        verifier.verify(joined["token"])
    assert e.value.code == "replayed"


@pytest.mark.parametrize("claim,value", [("room", "r-other"), ("region", "us-1"), ("tenant", "evil"),
                                         ("exp", 4_000_000_000), ("host", True)])
def test_a_tampered_claim_is_refused(env: Env, joined: dict, claim: str, value: object) -> None:
    header, payload, sig = parts(joined["token"])
    refused(env, reassemble(header, {**payload, claim: value}, sig), "bad_signature")


def test_garbage_is_refused_as_malformed(env: Env) -> None:
    for junk in ("", "a.b", "a.b.c", "x" * 9000, "...."):
        refused(env, junk, "malformed")


def test_a_header_that_is_not_a_json_object_is_refused_as_malformed(env: Env, joined: dict) -> None:
    """The node reads the header itself (once; the library reads it again when it verifies): JSON that is not an
    object, or not JSON, is a clear `malformed`, never an exception of another kind."""
    _, payload, sig = joined["token"].split(".")
    for header in (b"[1,2]", b'"EdDSA"', b"null", b"{", b"\xff\xfe"):
        refused(env, f"{b64(header)}.{payload}.{sig}", "malformed")
    nested = b"[" * 2000 + b"]" * 2000  # deeper than the decoder recurses, shorter than the 8 KiB cap
    refused(env, f"{b64(nested)}.{payload}.{sig}", "malformed")


def test_an_admin_token_is_not_a_join_token_and_vice_versa(env: Env, joined: dict) -> None:
    admin = env.control.issuer.mint_admin(node="node-eu-1", scope="room:end")
    refused(env, admin, "missing_claim")
    with pytest.raises(TokenError) as e:
        env.verifier().verify_admin(joined["token"], "room:end")
    assert e.value.code == "wrong_scope"
    assert env.verifier().verify_admin(admin, "room:end")["scope"] == "room:end"


def test_a_token_signed_before_rotation_verifies_after_it(env: Env, joined: dict) -> None:
    """Rotation without downtime: the node refreshes the JWKS and still finds the old key (grace period)."""
    old_kid = parts(joined["token"])[0]["kid"]
    r = env.client.post("/v1/operator/signing-keys/rotate", json={}, headers=env.op())
    assert r.status_code == 200, r.text
    new_kid = r.json()["kid"]
    published = {k["kid"] for k in env.client.get("/.well-known/jwks.json").json()["keys"]}
    assert published == {old_kid, new_kid}
    jwks = env.client.get("/.well-known/jwks.json").json()
    assert TokenVerifier(lambda: jwks, "node-eu-1").verify(joined["token"]).room == joined["room"]
    link = env.link(no_password=True)
    fresh = env.join(link["link"]).json()["token"]
    assert parts(fresh)[0]["kid"] == new_kid
    TokenVerifier(lambda: jwks, "node-eu-1").verify(fresh)


def test_rotation_is_persisted_and_the_retired_key_leaves_after_the_grace_period(tmp_path) -> None:
    ring = KeyRing.open(tmp_path / "keys", grace=600)
    first = ring.current.kid
    t0 = time.time()
    second = ring.rotate(now=t0).kid
    reopened = KeyRing.open(tmp_path / "keys", grace=600)
    assert [k.kid for k in reopened.published(t0)] == [first, second]
    assert reopened.current.kid == second
    assert [k.kid for k in reopened.published(t0 + 601)] == [second]
    assert oct((tmp_path / "keys" / "signing-keys.json").stat().st_mode & 0o777) == "0o600"


def test_another_process_rotating_the_shared_ring_is_picked_up(tmp_path) -> None:
    a = KeyRing.open(tmp_path / "keys")
    b = KeyRing.open(tmp_path / "keys")
    new = a.rotate().kid
    b.refresh(min_interval=0)
    assert b.current.kid == new


def test_revocation_set_and_admission_pass_a_good_token(env: Env, joined: dict) -> None:
    claims = env.verifier().verify(joined["token"])
    assert admit(Admission(region="eu-1", revocations=RevocationSet()), claims) is None
