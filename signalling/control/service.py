"""`ControlPlane`: the library behind both the HTTP API and the `castellan` CLI.

Every refusal is an `ApiError` (status, stable code, clear message). Every admin action is written to the
residency audit log through the `ResidencyPort`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from recording.notice import recording_notice
from recording.policy import RecordingPolicy
from recording.settings import policy_for
from residency.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PlacementRefused,
    PolicyViolation,
    RegistryError,
    ResidencyError,
    StoreUnavailable,
)
from signalling.tokens import KeyRing, RevocationSet, TokenIssuer

from . import metrics
from .config import ControlConfig
from .devices import DeviceCookies
from .errors import ApiError
from .guessing import Checks, Guesser, address_marker, device_marker, identify
from .guessing import check as check_guesser
from .inflight import InFlight
from .jsontypes import JSONObject
from .linkids import LinkSigner
from .lobby import ADMITTED, DENIED, Lobby, LobbyFull, Ticket
from .nodeadmin import NodeAdmin, NodeAdminError
from .occupancy import Occupancy
from .password_policy import password_problem
from .passwords import CheckerBusy, PasswordChecker, generate_password
from .ports import AuditDetail, ResidencyPort
from .ratelimit import FailureLimiter, Limiter, RequestBucket, RequestLimiter
from .recordings import Recordings
from .specs import CREATE_LINK
from .store import Link, Store

OPERATOR = "*"
KEY_PREFIX = "cak_"


@dataclass(frozen=True)
class Principal:
    key_id: str
    tenant: str  # OPERATOR for the operator key

    @property
    def actor(self) -> str:
        return f"{'operator' if self.tenant == OPERATOR else 'admin'}-key:{self.key_id}"

    def may_manage(self, tenant: str) -> bool:
        return self.tenant in (OPERATOR, tenant)


def _sha256(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def _healthy(url: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - the node's registered URL
            return bool(r.status == 200)
    except (OSError, ValueError):
        return False


def residency_error(e: ResidencyError) -> ApiError:
    status = {
        InvalidInput: 400, NotFound: 404, Conflict: 409, PolicyViolation: 422, PlacementRefused: 503,
        RegistryError: 503,
    }.get(type(e), 400)
    if isinstance(e, StoreUnavailable):
        # restarting or failing over: the join is retried by the client (its message names the server: log only)
        metrics.STORE_UNAVAILABLE.inc()
        log.warning("database unavailable: %s", e.message)
        return ApiError(503, e.code, "The service is briefly unavailable; please try again in a few seconds.",
                        headers={"Retry-After": "2"}, extra={"retry_after": 2})
    if isinstance(e, RegistryError):
        # the registry's own message names hosts and ports: log it, tell the user only that it is temporary
        log.warning("registry error: %s", e.message)
        return ApiError(503, e.code, "The service is briefly unavailable; please try again in a few seconds.",
                        headers={"Retry-After": "2"})
    if isinstance(e, PlacementRefused):
        return ApiError(status, e.code, e.message, headers={"Retry-After": "10"})
    return ApiError(status, e.code, e.message)


log = logging.getLogger("castellan.control")


class ControlPlane:
    def __init__(
        self,
        config: ControlConfig,
        *,
        store: Store,
        residency: ResidencyPort,
        keyring: KeyRing,
        node_admin: NodeAdmin | None = None,
        limiter: Limiter | None = None,
        requests: RequestBucket | None = None,
        inflight: InFlight | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.residency = residency
        self.keyring = keyring
        self.issuer = TokenIssuer(keyring)
        self.node_admin = node_admin
        self.clock = clock
        self.signer = LinkSigner(store.secret("link-signing-key"))
        self._client_key = store.secret("client-pseudonym-key")
        self.devices = DeviceCookies(store.secret("device-cookie-key"))
        self.checks = Checks(inflight=inflight)
        self.limiter: Limiter = limiter if limiter is not None else FailureLimiter(config.limits, clock=clock)
        metrics.LINK_GUESSING.sources.add(self)
        self._probed: dict[str, float] = {}
        self.requests: RequestBucket | None = None
        if config.join_rate:
            self.requests = requests or RequestLimiter(config.join_rate, config.join_burst, clock=clock)
        # shared by every replica through the database (lobby tickets, seats) and Redis when configured
        self.lobby = Lobby(store.db, clock=clock)
        self.occupancy = Occupancy(store.db, clock=clock)
        self.passwords = PasswordChecker(config.password_cost, config.password_workers, config.password_queue)
        self.revocations = RevocationSet(set(store.revoked_links()))
        self.recordings: Recordings | None = None  # the recording archive, when configured (app.py)

    def close(self) -> None:
        metrics.LINK_GUESSING.sources.discard(self)
        self.passwords.close()

    def _audit(self, tenant: str | None, actor: str, action: str, **details: AuditDetail) -> None:
        self.residency.audit(tenant=tenant, actor=actor, action=action, details=details)

    # -- tenants and admin keys ------------------------------------------------------------------------------
    def create_tenant(self, actor: str, *, tenant: str, name: str, jurisdiction: str) -> JSONObject:
        """The new tenant, with `warnings` when no region or no node would take its meetings (tenancy.py)."""
        try:
            created = self.residency.create_tenant(tenant=tenant, name=name, jurisdiction=jurisdiction, actor=actor)
            return {**created, "warnings": self.residency.tenant_document(tenant)["warnings"]}
        except ResidencyError as e:
            raise residency_error(e) from None

    def tenant(self, tenant: str) -> JSONObject:
        self.require_tenant(tenant)
        try:
            return self.residency.tenant_document(tenant)
        except ResidencyError as e:
            raise residency_error(e) from None

    def list_tenants(self, who: Principal) -> list[JSONObject]:
        """The operator sees every tenant; a tenant admin key its own only."""
        return [t for t in self.residency.list_tenants() if who.may_manage(str(t["tenant"]))]

    def set_tenant_regions(self, actor: str, *, tenant: str, allowed_regions: list[str] | None, reason: str,
                           opt_ins: dict[str, str] | None = None) -> JSONObject:
        """Replace the tenant's allowed regions (None = the default: its own jurisdiction's regions). Residency
        validates the whole policy and records it with before/after and the reason (policy.changed), or
        records the refusal (policy.refused)."""
        self.require_tenant(tenant)
        try:
            return self.residency.set_tenant_regions(tenant=tenant, allowed_regions=allowed_regions,
                                                     opt_ins=dict(opt_ins or {}), reason=reason, actor=actor)
        except ResidencyError as e:
            raise residency_error(e) from None

    # -- operator: regions and node keys --------------------------------------------------------------------------
    def define_region(self, actor: str, *, region: str, jurisdiction: str, location: str, display_name: str,
                      reason: str = "region defined") -> JSONObject:
        try:
            return self.residency.define_region(region=region, jurisdiction=jurisdiction, location=location,
                                                display_name=display_name, actor=actor, reason=reason)
        except ResidencyError as e:
            raise residency_error(e) from None

    def list_regions(self) -> JSONObject:
        return {"regions": list(self.residency.list_regions())}

    def enroll_node_key(self, actor: str, *, region: str, public_key: str,
                        reason: str = "node key enrolled") -> JSONObject:
        try:
            return self.residency.enroll_node_key(region=region, public_key=public_key, actor=actor, reason=reason)
        except ResidencyError as e:
            raise residency_error(e) from None

    def revoke_node_key(self, actor: str, *, key_id: str, reason: str) -> JSONObject:
        try:
            return self.residency.revoke_node_key(key_id=key_id, actor=actor, reason=reason)
        except ResidencyError as e:
            raise residency_error(e) from None

    def list_node_keys(self) -> JSONObject:
        return {"keys": list(self.residency.list_node_keys())}

    def require_tenant(self, tenant: str) -> None:
        if not self.residency.tenant_exists(tenant):
            raise ApiError(404, "tenant_not_found", f"tenant {tenant!r} does not exist")

    def create_admin_key(self, actor: str, *, tenant: str, label: str = "") -> tuple[JSONObject, str]:
        """Returns the key's public record and the secret, shown once (only its SHA-256 is stored)."""
        if tenant != OPERATOR:
            self.require_tenant(tenant)
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        self._audit(None if tenant == OPERATOR else tenant, actor, "admin_key.create", key_id=key_id, label=label)
        rec = self.store.add_admin_key(key_id, tenant, _sha256(secret), label)
        return rec.public(), f"{KEY_PREFIX}{key_id}.{secret}"

    def list_admin_keys(self, tenant: str) -> list[JSONObject]:
        return [k.public() for k in self.store.admin_keys(tenant)]

    def revoke_admin_key(self, actor: str, *, tenant: str, key_id: str) -> None:
        rec = self.store.admin_key(key_id)
        if rec is None or rec.tenant != tenant:
            raise ApiError(404, "key_not_found", f"admin key {key_id!r} not found for tenant {tenant!r}")
        if not self.store.revoke_admin_key(key_id):
            raise ApiError(409, "key_already_revoked", f"admin key {key_id!r} is already revoked")
        self._audit(None if tenant == OPERATOR else tenant, actor, "admin_key.revoke", key_id=key_id)

    def authenticate(self, presented: str | None) -> Principal:
        if not presented or not presented.startswith(KEY_PREFIX) or "." not in presented:
            raise ApiError(401, "unauthenticated", "an admin API key is required (Authorization: Bearer cak_...)")
        key_id, _, secret = presented[len(KEY_PREFIX):].partition(".")
        rec = self.store.admin_key(key_id)
        ok = rec is not None and hmac.compare_digest(rec.hash, _sha256(secret))
        if rec is None or not ok or rec.revoked_at is not None:
            raise ApiError(401, "unauthenticated", "admin API key is unknown or revoked")
        return Principal(key_id, rec.tenant)

    def has_operator_key(self) -> bool:
        return any(k.revoked_at is None for k in self.store.admin_keys(OPERATOR))

    def ensure_operator_key(self, provided: str | None = None) -> str | None:
        """Bootstrap. With `provided` (e.g. CASTELLAN_OPERATOR_KEY from a deployment secret, format
        `cak_<16 hex>.<secret>`): registers it (its hash) if unknown, returns None. Without: on first start
        creates an operator key and returns it (None when one exists already)."""
        if provided:
            key_id, _, secret = provided.removeprefix(KEY_PREFIX).partition(".")
            if not provided.startswith(KEY_PREFIX) or len(key_id) != 16 or len(secret) < 32:
                raise ValueError("operator key must look like cak_<16 hex digits>.<at least 32 characters>")
            if self.store.admin_key(key_id) is None and self.store.add_admin_key_if_absent(
                    key_id, OPERATOR, _sha256(secret), "operator key from the environment"):
                self._audit(None, "bootstrap", "admin_key.create", key_id=key_id, label="from environment")
            return None
        if self.has_operator_key():
            return None
        return self.create_admin_key("bootstrap", tenant=OPERATOR, label="bootstrap operator key")[1]

    # -- meeting links ---------------------------------------------------------------------------------------
    def link_url(self, link: str) -> str:
        return f"{self.config.public_url.rstrip('/')}/j/{link}"

    def create_link(
        self,
        actor: str,
        *,
        tenant: str,
        title: str,
        password: str | None = None,
        no_password: bool = False,
        expires_in: int | None = None,
        max_participants: int | None = None,
        lobby: bool = False,
    ) -> JSONObject:
        """A new meeting link. Without a password (and without `no_password`) one is generated and returned
        once. The answer's `url` has no fragment: the E2EE secret is added by the client (CLI/browser)."""
        opts = {"title": title, "password": password, "no_password": no_password, "expires_in": expires_in,
                "max_participants": max_participants, "lobby": lobby}
        CREATE_LINK.validate({k: v for k, v in opts.items() if v is not None})  # the API's rules, for the CLI too
        self.require_tenant(tenant)
        if password is not None and no_password:
            raise ApiError(400, "contradictory_options", "give a password or no_password, not both")
        if password is not None and (problem := password_problem(password)) is not None:
            raise ApiError(400, "weak_password", problem)
        generated = None
        if password is None and not no_password:
            password = generated = generate_password()
        now = self.clock()
        link_id = self.signer.new()
        host_key = secrets.token_urlsafe(24)
        rec = Link(
            link=link_id,
            tenant=tenant,
            title=title,
            room="r-" + secrets.token_hex(8),
            password_hash=self.passwords.hash_now(password) if password is not None else None,
            host_key_hash=_sha256(host_key),
            expires_at=now + expires_in if expires_in else None,
            max_participants=max_participants,
            lobby=lobby,
            created=now,
            created_by=actor,
            revoked_at=None,
        )
        # recorded first: if the audit log cannot take it, nothing is created (nothing half-applied)
        self._audit(tenant, actor, "link.create", link=link_id, room=rec.room, title=title,
                    password_required=password is not None, expires_at=rec.expires_at,
                    max_participants=max_participants, lobby=lobby)
        self.store.add_link(rec)
        out = {**rec.public(), "url": self.link_url(link_id), "host_key": host_key,
               "warnings": self.residency.tenant_document(tenant)["warnings"]}
        if generated is not None:
            out["password"] = generated
        return out

    def get_link(self, tenant: str, link: str) -> Link:
        rec = self.store.link(link) if self.signer.verify(link) else None
        if rec is None or rec.tenant != tenant:
            raise ApiError(404, "link_not_found", "meeting link not found")
        return rec

    def list_links(self, tenant: str) -> list[JSONObject]:
        self.require_tenant(tenant)
        return [r.public() for r in self.store.links(tenant)]

    async def revoke_link(self, actor: str, *, tenant: str, link: str, end_meeting: bool = False) -> JSONObject:
        rec = self.get_link(tenant, link)
        newly = self.store.revoke_link(link)
        self.revocations.add(link)
        self.lobby.deny_all(link)
        ended: bool | str = False
        if end_meeting:
            try:
                ended = await self._end_room(actor, rec)
            except NodeAdminError as e:
                self._audit(tenant, actor, "link.revoke", link=link, end_meeting="failed", error=str(e))
                raise ApiError(502, "end_meeting_failed", f"link revoked, but ending the meeting failed: {e}") from None
        self._audit(tenant, actor, "link.revoke", link=link, room=rec.room, already=not newly, ended=ended)
        return {"link": link, "revoked": True, "meeting_ended": ended}

    async def _end_room(self, actor: str, rec: Link) -> bool | str:
        """Ends the link's running meeting on its node: True, or "not_running"; NodeAdminError when the node
        would not. Its seats are cleared either way (nobody is in a meeting that is not running)."""
        node = self.residency.room_node(rec.tenant, rec.room)
        if node is None:
            self.occupancy.clear(rec.tenant, rec.room)
            return "not_running"
        if self.node_admin is None:
            raise ApiError(503, "node_admin_unavailable", "no node admin client is configured")
        await self.node_admin.end_room(node, rec.tenant, rec.room)
        self.residency.end_room(rec.tenant, rec.room, actor)
        self.occupancy.clear(rec.tenant, rec.room)
        return True

    async def end_meeting(self, actor: str, *, tenant: str, link: str) -> JSONObject:
        """Ends the link's meeting for everyone, the link staying usable (a new meeting may start on it)."""
        rec = self.get_link(tenant, link)
        try:
            ended = await self._end_room(actor, rec)
        except NodeAdminError as e:
            self._audit(tenant, actor, "meeting.end", link=link, room=rec.room, ended="failed", error=str(e))
            raise ApiError(502, "end_meeting_failed", f"ending the meeting failed: {e}") from None
        self._audit(tenant, actor, "meeting.end", link=link, room=rec.room, ended=ended)
        return {"link": link, "room": rec.room, "meeting_ended": ended}

    def meetings(self, tenant: str) -> list[JSONObject]:
        """The tenant's running meetings: every link whose room is placed on a node, where, and how many are in
        (joined participants and seats of tokens just issued, occupancy.py)."""
        self.require_tenant(tenant)
        out: list[JSONObject] = []
        for rec in self.store.links(tenant):
            where = self.residency.room_where(tenant, rec.room)
            if where is None:
                continue
            out.append({"link": rec.link, "title": rec.title, "room": rec.room, "revoked": rec.revoked_at is not None,
                        "participants": self.occupancy.count(tenant, rec.room), **where})
        return out

    def link_info(self, link: str) -> JSONObject:
        """What the link page may show before joining."""
        rec = self._usable_link(link)
        return {"title": rec.title, "password_required": rec.password_hash is not None, "lobby": rec.lobby,
                "recording": recording_notice(self.store.db, rec.tenant, rec.link)}

    def _usable_link(self, link: str) -> Link:
        if not self.signer.verify(link):  # before any database lookup
            metrics.TOKEN_FAILURES.labels("bad_link").inc()
            raise ApiError(404, "link_not_found", "this meeting link is not valid")
        rec = self.store.link(link)
        if rec is None:
            metrics.TOKEN_FAILURES.labels("bad_link").inc()
            raise ApiError(404, "link_not_found", "this meeting link is not valid")
        if rec.revoked_at is not None:
            metrics.TOKEN_FAILURES.labels("link_revoked").inc()
            raise ApiError(410, "link_revoked", "this meeting link was revoked by its organiser")
        if rec.expires_at is not None and self.clock() >= rec.expires_at:
            metrics.TOKEN_FAILURES.labels("link_expired").inc()
            raise ApiError(410, "link_expired", "this meeting link has expired")
        return rec

    # -- joining ----------------------------------------------------------------------------------------------
    def client_ref(self, address: str) -> str:
        """A stable pseudonym for a client address. The audit log is append-only and kept for a long time, so
        it records this keyed hash, never the address (personal data); lockout listings show both."""
        return "c-" + hmac.new(self._client_key, address.encode(), hashlib.sha256).hexdigest()[:16]

    def _lock_ref(self, scope: str, key: str) -> str:
        """What the audit log records for a limiter key: links as they are, addresses and devices pseudonymised."""
        if scope == "link":
            return key
        if scope == "known":
            link, _, address = key.partition(" ")
            return f"{link} {self.client_ref(address)}"
        return self.client_ref(key)

    def _failed(self, rec: Link, g: Guesser, kind: str) -> None:
        if kind == "password":
            metrics.PASSWORD_FAILURES.inc()
        metrics.TOKEN_FAILURES.labels(f"wrong_{kind}").inc()
        tripped = self.limiter.failure(g.counted(), tenant=rec.tenant)
        self._audit(rec.tenant, f"client:{self.client_ref(g.address)}", f"join.wrong_{kind}", link=rec.link)
        for scope, key, locked in tripped:
            metrics.LOCKOUTS.labels(scope, str(locked).lower()).inc()
            action = "join.guessing" if scope == "link" else "join.locked" if locked else "join.backoff"
            self._audit(rec.tenant, "rate-limiter", action, scope=scope, key=self._lock_ref(scope, key),
                        link=rec.link)
            if scope == "link":
                log.warning("link %s (tenant %s) is being guessed: unknown guessers are slowed for now", rec.link,
                            rec.tenant)

    def _slowed(self, rec: Link) -> Callable[[float], None]:
        return lambda delay: metrics.SLOWED_CHECKS.labels(rec.tenant).inc()

    async def join(
        self,
        *,
        link: str,
        name: str,
        client: str,
        password: str | None = None,
        region_hint: str | None = None,
        host_key: str | None = None,
        unreachable_node: str | None = None,
        device: str | None = None,
        fresh_device: str | None = None,
    ) -> JSONObject:
        """`device`: the id of the valid device cookie the request carried; `fresh_device`: the id the caller
        will set as that cookie when there was none (a correct password makes either known on this link)."""
        if self.requests is not None:
            wait = self.requests.take(client)
            if wait:
                metrics.TOKEN_FAILURES.labels("request_rate").inc()
                retry = max(1, int(wait + 0.999))
                raise ApiError(429, "slow_down", f"too many join requests from your address; retry in {retry} s",
                               headers={"Retry-After": str(retry)}, extra={"retry_after": retry})
        rec = self._usable_link(link)
        host = False
        if host_key is not None:
            g = identify(self.limiter, rec.link, client, device)
            check_guesser(self.limiter, g)  # the guesser's own record; the link's never blocks anyone
            if not hmac.compare_digest(rec.host_key_hash, _sha256(host_key)):
                self._failed(rec, g, "host_key")
                raise ApiError(403, "wrong_host_key", "the host key is not valid for this meeting")
            host = True
        elif rec.password_hash is not None:
            g = identify(self.limiter, rec.link, client, device)
            check_guesser(self.limiter, g)  # a correct password after the guesser's limit still waits
            if password is None:
                metrics.TOKEN_FAILURES.labels("password_required").inc()
                raise ApiError(401, "password_required", "this meeting needs a password")
            async with self.checks.slot(self.limiter, g, self._slowed(rec)):
                try:
                    ok = await self.passwords.verify(password, rec.password_hash)
                except CheckerBusy:
                    metrics.TOKEN_FAILURES.labels("password_busy").inc()
                    raise ApiError(503, "busy", "too many people are joining right now; retry in a second",
                                   headers={"Retry-After": "1"}, extra={"retry_after": 1}) from None
                if not ok:
                    self._failed(rec, g, "password")
            if not ok:
                raise ApiError(401, "wrong_password", "wrong meeting password")
            known_device = device or fresh_device
            self.limiter.remember([address_marker(rec.link, client)]
                                  + ([device_marker(rec.link, known_device)] if known_device else []))
            if device is not None:
                self.limiter.success([("device", device)])  # only that browser could have cleared it
            await self._upgrade_hash(rec.link, rec.password_hash, password)
        # the node the participant lost: the room's home, or a node of a cascaded meeting (a far node) — checked
        # either way, so the join is not sent back to a dead node until its registration expires
        if unreachable_node is not None and self.residency.carries(rec.tenant, rec.room, unreachable_node):
            await self._check_reported_node(unreachable_node)
        participant = "p-" + secrets.token_urlsafe(9)
        if rec.lobby and not host:
            try:
                ticket = self.lobby.knock(link=rec.link, tenant=rec.tenant, name=name, participant=participant,
                                          region_hint=region_hint)
            except LobbyFull:
                raise ApiError(503, "lobby_full", "the waiting room is full; try again later") from None
            return {"status": "waiting", "ticket": ticket.id, "poll": f"/v1/lobby/{ticket.id}",
                    "participant": participant}
        return self._admit(rec, name=name, participant=participant, region_hint=region_hint, host=host)

    async def _upgrade_hash(self, link: str, stored: str, password: str) -> None:
        """After a correct password: a hash from before Argon2 (scrypt) or at other parameters than the configured
        ones is replaced now (the plain password is only ever in memory here). Under a storm it waits for a
        later join rather than refusing this one."""
        if not self.passwords.needs_rehash(stored):
            return
        try:
            self.store.set_password_hash(link, await self.passwords.hash(password))
        except CheckerBusy:
            return

    async def _check_reported_node(self, node: str) -> None:
        """A participant of the meeting says its node went away. Believe the node's health check, not the client
        (at most one probe per node per second): a dead node is re-placed now, a live one stays."""
        now = time.monotonic()
        if now - self._probed.get(node, 0.0) < 1.0:
            return
        self._probed[node] = now
        url = self.residency.node_http_url(node)
        if url is None:
            return
        alive = await asyncio.to_thread(_healthy, url.rstrip("/") + "/healthz", 0.3)
        if not alive:
            log.warning("node %s reported unreachable and failed its health check: re-placing its rooms", node)
            await asyncio.to_thread(self.residency.node_gone, node, "control-plane",
                                    "reported unreachable by a participant; health check failed")

    def _admit(self, rec: Link, *, name: str, participant: str, region_hint: str | None, host: bool) -> JSONObject:
        capped = rec.max_participants is not None and not host
        if capped and not self.occupancy.claim(rec.tenant, rec.room, participant, rec.max_participants or 0):
            metrics.TOKEN_FAILURES.labels("meeting_full").inc()
            raise ApiError(403, "meeting_full", f"this meeting is full ({rec.max_participants} participants)")
        try:
            where = self.residency.place(tenant=rec.tenant, room=rec.room, region_hint=region_hint,
                                         participant=participant)
        except ResidencyError as e:
            if capped:  # no token: the seat goes back
                self.occupancy.release(rec.tenant, rec.room, participant)
            metrics.PLACEMENT_REFUSALS.labels(e.code).inc()
            if isinstance(e, PlacementRefused):
                raise ApiError(503, "placement_refused", e.message, extra={"reason": e.code}) from None
            raise residency_error(e) from None
        metrics.PLACEMENTS.labels(where.region).inc()
        if not capped:
            self.occupancy.reserve(rec.tenant, rec.room, participant)
        # the meeting's recording policy travels signed: the node holds a `required` meeting's media for its
        # recorder (sfu/recording.py), and no client can loosen what it was issued
        token = self.issuer.mint(
            tenant=rec.tenant, room=rec.room, participant=participant, region=where.region, node=where.node,
            name=name, ttl=self.config.token_ttl, link=rec.link, host=host,
            recording=policy_for(self.store.db, rec.tenant, rec.link).value,
        )
        metrics.JOINS.inc()
        return {
            "status": "joined",
            "token": token,
            "ws_url": where.ws_url,
            "node": where.node,
            "room": rec.room,
            "participant": participant,
            "host": host,
            "expires_in": int(self.config.token_ttl),
            "processing": where.processing(),
        }

    def recorder_credential(self, actor: str, *, tenant: str, link: str, region_hint: str | None) -> JSONObject:
        """A recorder's join credential for `link`'s meeting (docs/recording.md, "Recorder credentials"): role
        `recorder`, the tenant's recorder name, bound to the meeting's room and node, `token_ttl` seconds, single
        use as every join token. Only for an admin key of the link's tenant or the operator's (the caller checked
        it); never where the meeting's policy is off. Takes no seat (a full meeting still gets its recorder) and
        skips password and lobby: the key is the authority. Audited before the token exists."""
        rec = self.get_link(tenant, link)
        rec = self._usable_link(rec.link)  # revoked or expired: refused as for anyone
        policy = policy_for(self.store.db, tenant, rec.link)
        if policy is RecordingPolicy.OFF:
            raise ApiError(422, "recording_off", "recording is off for this meeting: no recorder may join it")
        name = f"{self.tenant(tenant).get('name') or tenant} archive"[:64]
        participant = "rec-" + secrets.token_urlsafe(9)
        try:
            where = self.residency.place(tenant=rec.tenant, room=rec.room, region_hint=region_hint,
                                         participant=participant)
        except PlacementRefused as e:
            raise ApiError(503, "placement_refused", e.message, extra={"reason": e.code}) from None
        except ResidencyError as e:
            raise residency_error(e) from None
        self._audit(tenant, actor, "recording.recorder_credential", link=rec.link, room=rec.room,
                    participant=participant, node=where.node, policy=policy.value)
        token = self.issuer.mint(
            tenant=rec.tenant, room=rec.room, participant=participant, region=where.region, node=where.node,
            name=name, ttl=self.config.token_ttl, link=rec.link, recording=policy.value, role="recorder",
        )
        return {"status": "joined", "token": token, "ws_url": where.ws_url, "node": where.node, "room": rec.room,
                "participant": participant, "name": name, "host": False, "role": "recorder",
                "expires_in": int(self.config.token_ttl), "processing": where.processing(), "policy": policy.value}

    # -- lobby -------------------------------------------------------------------------------------------------
    def _host_link(self, link: str, host_key: str | None) -> Link:
        rec = self._usable_link(link)
        if host_key is None or not hmac.compare_digest(rec.host_key_hash, _sha256(host_key)):
            raise ApiError(403, "wrong_host_key", "the host key is not valid for this meeting")
        return rec

    def lobby_list(self, link: str, host_key: str | None) -> list[JSONObject]:
        self._host_link(link, host_key)
        return [t.public() for t in self.lobby.waiting(link)]

    def lobby_decide(self, link: str, host_key: str | None, ticket: str, admit: bool) -> JSONObject:
        rec = self._host_link(link, host_key)
        t = self.lobby.decide(link, ticket, admit)
        if t is None:
            raise ApiError(404, "ticket_not_found", "no such participant waiting")
        self._audit(rec.tenant, f"host:{link[:8]}", "lobby.admit" if admit else "lobby.deny",
                    link=link, participant=t.participant)
        return t.public()

    async def lobby_wait(self, ticket_id: str, timeout: float) -> JSONObject:
        gone = ApiError(404, "ticket_not_found", "unknown or expired waiting-room ticket")
        t: Ticket | None = self.lobby.get(ticket_id)
        if t is None:
            raise gone
        t = await self.lobby.wait(t, min(timeout, self.config.lobby_poll_max))
        if t is None:
            raise gone
        if t.state == DENIED:
            self.lobby.consume(t)
            raise ApiError(403, "denied", "the host did not let you in")
        if t.state != ADMITTED:
            return {"status": "waiting", "ticket": t.id}
        rec = self._usable_link(t.link)
        answer = self._admit(rec, name=t.name, participant=t.participant, region_hint=t.region_hint, host=False)
        # consumed only once the token exists (a refused placement can be retried by polling again), and by one
        # poll only: a second poll of the same ticket, here or on another replica, gets no token
        if not self.lobby.consume(t):
            raise gone
        return answer

    # -- audit -----------------------------------------------------------------------------------------------------
    def export_audit(self, actor: str, tenant: str) -> str:
        """The tenant's own audit chain (signed JSON Lines); the export itself is recorded afterwards."""
        self.require_tenant(tenant)
        try:
            text = self.residency.export_tenant(tenant)
        except ResidencyError as e:
            raise residency_error(e) from None
        self._audit(tenant, actor, "audit.export")
        return text

    # -- operations ----------------------------------------------------------------------------------------------
    def lockouts(self, tenant: str | None) -> list[JSONObject]:
        out = [lo.to_dict() for lo in self.limiter.lockouts(tenant)]
        for lo in out:
            lo["ref"] = self._lock_ref(str(lo["scope"]), str(lo["key"]))
        return out

    def clear_lockout(self, actor: str, *, tenant: str | None, scope: str, key: str) -> None:
        if not self.limiter.clear(scope, key, tenant):
            raise ApiError(404, "lockout_not_found", f"no lockout for {scope} {key!r}")
        self._audit(tenant, actor, "lockout.clear", scope=scope, key=self._lock_ref(scope, key))

    def rotate_signing_key(self, actor: str) -> JSONObject:
        key = self.keyring.rotate()
        self._audit(None, actor, "signing_key.rotate", kid=key.kid)
        return {"kid": key.kid, "published": [k.kid for k in self.keyring.published()]}
