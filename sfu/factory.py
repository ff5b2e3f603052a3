"""The one way a media node is put together — its admission, registry presence, HTTP app and lifespan — used
by `castellan node` (sfu/server.py), `castellan dev` (one process with the control plane) and the tests.

    built = build_node(NodeConfig(...), verifier, registry=registry, audit=audit, record=record)
    uvicorn.Server(uvicorn.Config(built.app, host=..., port=..., **node_server_settings()))
    # the app's lifespan starts and stops node and agent; node_server_settings (sfu/app/serving.py) caps frames
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from residency.enforcement import AuditSink, NodeGuard
from residency.identity import NodeSigner
from residency.model import Node as NodeRecord
from residency.registry import Registry
from sfu.admission import Admission, Occupancy
from sfu.agent import NodeAgent
from sfu.app.identity import identity_route
from sfu.app.limits import SignallingLimits
from sfu.app.serving import quiet_client_faults
from sfu.app.signalling import NodeSignalling, create_node_app
from sfu.cascade.feedback import RelayFeedback
from sfu.cascade.handshakes import CascadeHandshakes
from sfu.cascade.meeting import Cascade
from sfu.cascade.members import RelayedMembers
from sfu.cascade.relays import Relays, RelaySetup
from sfu.cascade.roles import RecorderRoles
from sfu.cascade.routes import relay_routes
from sfu.config import NodeConfig
from sfu.metrics import PolicyCollector, RelayCollector, metrics_endpoint
from sfu.node import Node
from sfu.withdrawal import PolicyWatch
from signalling.tokens import HttpRevocations, LinkRevocations, TokenVerifier


@dataclass
class BuiltNode:
    node: Node
    signalling: NodeSignalling
    app: Starlette
    agent: NodeAgent | None  # registry presence (None: a standalone node)
    relays: Relays | None = None  # relay links to other nodes (None: this node cannot verify other nodes)
    members: RelayedMembers | None = None  # the publishers relays bring in, as participants of the rooms
    handshakes: CascadeHandshakes | None = None  # a cascaded meeting's MLS handshakes to and from its home
    watch: PolicyWatch | None = None  # running meetings leave a region the tenant no longer allows


def build_node(
    config: NodeConfig,
    verifier: TokenVerifier,
    *,
    registry: Registry | None = None,
    audit: AuditSink | None = None,
    record: NodeRecord | None = None,
    capacity: int = 200,
    revocations: LinkRevocations | None = None,
    occupancy: Occupancy | None = None,
    limits: SignallingLimits | None = None,
    signer: NodeSigner | None = None,
    relay: RelaySetup | None = None,
) -> BuiltNode:
    """`registry` + `audit` + `record`: the node registers, heartbeats and audits its refusals (residency's
    NodeGuard); without them it is standalone and applies only the region rule. `audit` alone (standalone):
    where host actions (sfu/host.py) are recorded. `revocations`: links revoked
    after their tokens were issued (HttpRevocations is refreshed in the background). `occupancy`: the in-process
    control plane's participant count (`castellan dev`). `limits`: what one signalling socket may do
    (sfu/app/limits.py; the defaults unless a test narrows them). `signer`: the node's enrolled key — it signs
    every registry record and answers the control plane's health check at `/identity`. Serve `app` with
    `sfu.app.serving.node_server_settings()`. `relay`: this node may relay meetings with other nodes (its
`Relays`, and the `/relay/offer` route other nodes open links through)."""
    guard = None
    if registry is not None:
        if audit is None or record is None:
            raise ValueError("a node in a registry needs an audit sink and its node record")
        guard = NodeGuard(config.node_id, config.region, registry, audit, signer=signer)
    node = Node(config, Admission(config.region, guard=guard, revocations=revocations, occupancy=occupancy))
    node.host_controls.audit = audit  # host actions are audited whenever the node has a log, standalone too
    agent = NodeAgent(node, guard, record, capacity=capacity) if guard is not None and record is not None else None
    signalling = NodeSignalling(node, verifier, limits=limits)
    metrics_registry, signalling.metrics = metrics_endpoint(
        node, capacity, signalling_refusals=signalling.refusals, signalling_sent=signalling.sent,
        revocations=revocations if isinstance(revocations, HttpRevocations) else None)

    relays = Relays.for_node(node, relay) if relay is not None else None
    if relays is not None:
        metrics_registry.register(RelayCollector(node, relays))
    # a far node's participant is marked the recorder only on its credential, verified here (sfu/cascade/roles.py)
    members = RelayedMembers(node, relays, RecorderRoles(verifier, revocations)) if relays is not None else None
    feedback = RelayFeedback(node, relays) if relays is not None else None
    # one MLS group per cascaded meeting: the home's Delivery Service orders every node's handshakes
    handshakes = (CascadeHandshakes(node, members, relay.home, signalling.limits)
                  if members is not None and relay is not None and relay.home is not None else None)
    if handshakes is not None and relays is not None:
        signalling.forward = handshakes.forward
        relays.homed = handshakes.homed
    watch = None
    if agent is not None and registry is not None:
        # the heartbeat reads the hosted tenants' policies; the event loop judges them (sfu/withdrawal.py)
        watch = PolicyWatch(node, registry.get_tenant_view, audit, signer.key if signer is not None else None,
                            relays)
        agent.watch = watch
        metrics_registry.register(PolicyCollector(node, watch))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        quiet_client_faults()
        await node.start()
        if agent is not None:
            agent.record = dataclasses.replace(agent.record, udp_port=node.config.udp_port)
            await agent.start()
        tasks = []
        if isinstance(revocations, HttpRevocations):
            tasks.append(asyncio.create_task(_refresh_revocations(revocations)))
        cascade = None
        if relays is not None and relay is not None and relay.home is not None:
            # cascading: dial the homes of rooms placed elsewhere, keep every link's copies in step
            cascade = Cascade(node, relays, relay.home, feedback, handshakes=handshakes)
            tasks.append(asyncio.create_task(cascade.run()))
        if handshakes is not None:
            tasks.append(asyncio.create_task(handshakes.run()))
        if watch is not None:
            tasks.append(asyncio.create_task(watch.run()))
        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            if cascade is not None:  # every link's `close`, so the other nodes close their sides at once
                with contextlib.suppress(Exception):
                    await cascade.stop()
            if agent is not None:
                await agent.stop()
            await node.stop()

    extra: list[BaseRoute] = [identity_route(signer, config.node_id)] if signer is not None else []
    if relays is not None:
        extra += relay_routes(relays, handshakes)
    return BuiltNode(node, signalling, create_node_app(signalling, lifespan=lifespan, extra_routes=extra), agent,
                     relays, members, handshakes, watch)


async def _refresh_revocations(revocations: HttpRevocations) -> None:
    while True:
        await revocations.refresh_async()
        await asyncio.sleep(revocations.ttl)
