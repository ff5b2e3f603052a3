"""The registry: shared, short-lived state that every process (control plane, nodes) must see the same way.

What it holds
  * nodes, each with a TTL refreshed by heartbeats: a node that stops heartbeating vanishes within `node_ttl`
    seconds (default 6 s; heartbeat every ~2 s), so dead nodes are noticed within seconds;
  * room -> Placement, written with set-if-absent so concurrent joins agree (stickiness), and replaced only by
    compare-and-set after a node death;
  * meeting -> the nodes carrying it (cascading, issue 14), each entry with its own expiry: written by the control
    plane when it places a participant off the room's home and refreshed by each node's heartbeat while it has
    participants of the meeting, so a node that left the meeting or died drops out within a TTL. Like everything
    here it is NOT trusted for residency: `ResidencyService` keeps only entries naming a live trusted node of an
    allowed region (others are ignored and counted);
  * regions and each tenant's *resolved* policy (`TenantView`) as published by the control plane, so a node in
    another process can answer "does tenant T allow my region?" without the control plane's database.

The durable source of truth for tenants and regions is the control plane's SQLite store (`store.py`); the
registry is a published view, re-published by `ResidencyService.publish()` at start-up and after each change.

Two implementations behind one interface:
  * `MemoryRegistry` - one process (`castellan dev`, tests). Thread-safe.
  * `RedisRegistry`  - several processes sharing a real redis-server.

Choice: the API is SYNCHRONOUS (redis-py's blocking client). Each call is one or two round trips on a local
network (well under a millisecond on loopback), which is cheaper than threading an async API through the pure
policy code. Async callers (Starlette control plane, asyncio node) may call it directly, or wrap a call in
`await asyncio.to_thread(...)` if their Redis is far away. Both implementations are thread-safe.
Failures to reach Redis raise `RegistryError("registry_unavailable")`: callers then fail closed.
"""

from __future__ import annotations

import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .errors import RegistryError
from .model import Node, Placement, Region, TenantView

if TYPE_CHECKING:
    import redis

DEFAULT_NODE_TTL = 6.0
HEARTBEAT_INTERVAL = 2.0  # what nodes should use: three heartbeats per TTL
MAX_MEETING_NODES = 64  # entries read per meeting: a flood written into Redis costs a join no more than this


class Registry(ABC):
    """The small interface both registries implement."""

    node_ttl: float

    # -- nodes ---------------------------------------------------------------------------------------------
    @abstractmethod
    def register_node(self, node: Node) -> Node:
        """Store (or overwrite) a node and start its TTL; returns it with `last_heartbeat` set."""

    @abstractmethod
    def heartbeat(self, node_id: str, load: float, healthy: bool = True, draining: bool = False) -> bool:
        """Refresh a node's TTL and state. False if the node is unknown or already expired (re-register)."""

    @abstractmethod
    def update_node(self, node: Node) -> bool:
        """Replace a live node's record (a signed heartbeat) and refresh its TTL; False if it is unknown or
        expired (then the node registers again)."""

    def take_malformed(self) -> int:
        """Node records skipped since the last call because they could not be parsed (counted as rejected)."""
        return 0

    @abstractmethod
    def deregister_node(self, node_id: str) -> None:
        """Remove a node now (clean shutdown)."""

    @abstractmethod
    def get_node(self, node_id: str) -> Node | None:
        """A live (not expired) node, or None."""

    @abstractmethod
    def list_nodes(self, region: str | None = None) -> list[Node]:
        """Live nodes, optionally only those of `region`, sorted by id."""

    def usable_nodes(self, region: str | None = None) -> list[Node]:
        """Live nodes that may take new rooms (healthy, not draining, not full)."""
        return [n for n in self.list_nodes(region) if n.usable()]

    # -- published policy ----------------------------------------------------------------------------------
    @abstractmethod
    def put_region(self, region: Region) -> None: ...

    @abstractmethod
    def get_region(self, region_id: str) -> Region | None: ...

    @abstractmethod
    def list_regions(self) -> dict[str, Region]: ...

    @abstractmethod
    def put_tenant_view(self, view: TenantView) -> None: ...

    @abstractmethod
    def get_tenant_view(self, tenant_id: str) -> TenantView | None: ...

    # -- placements ----------------------------------------------------------------------------------------
    @abstractmethod
    def claim_placement(self, placement: Placement) -> Placement:
        """Store `placement` unless the room already has one; return whichever is stored (sticky)."""

    @abstractmethod
    def get_placement(self, tenant: str, room: str) -> Placement | None: ...

    @abstractmethod
    def replace_placement(self, expected: Placement, new: Placement) -> Placement | None:
        """Compare-and-set: store `new` only if the current placement is still `expected` (same node and
        generation); return the placement stored afterwards, or None if the room has ended meanwhile."""

    @abstractmethod
    def drop_placement(self, tenant: str, room: str, expected: Placement | None = None) -> None:
        """Forget the room's placement (the room ended, or could not be re-placed). With `expected`, only if
        the stored placement is still that one (so a concurrent successful re-placement is not undone)."""

    @abstractmethod
    def placements_on(self, node_id: str) -> list[Placement]:
        """Placements currently pointing at `node_id` (to re-place them when it dies)."""

    def rooms_placed(self, node_id: str) -> int:
        """How many rooms point at `node_id` (breaks load ties between heartbeats)."""
        return len(self.placements_on(node_id))

    # -- the nodes carrying a meeting (cascading) --------------------------------------------------------------
    @abstractmethod
    def note_meeting_node(self, tenant: str, room: str, node_id: str, ttl: float) -> None:
        """`node_id` carries the meeting for the next `ttl` seconds (written again while it does)."""

    @abstractmethod
    def drop_meeting_node(self, tenant: str, room: str, node_id: str) -> None:
        """`node_id` no longer carries the meeting (its last participant left, or it stops)."""

    @abstractmethod
    def meeting_nodes(self, tenant: str, room: str) -> list[str]:
        """The node ids whose entry has not expired, sorted, at most MAX_MEETING_NODES. Untrusted: anyone with
        Redis access can write one, so the caller keeps only live trusted nodes of allowed regions."""

    def take_malformed_meetings(self) -> int:
        """Meeting entries read as empty since the last call because they were not a meeting entry at all."""
        return 0

    def ping(self) -> bool:
        """Is the registry reachable? (for /readyz)"""
        return True

    # -- short-lived documents (recorder pools, recording wants, recorder jobs: docs/recording.md) -----------
    @abstractmethod
    def put_doc(self, kind: str, key: str, doc: dict[str, Any], ttl: float | None = None) -> None:
        """Store (overwrite) a JSON document under (kind, key); gone after `ttl` seconds unless put again."""

    @abstractmethod
    def claim_doc(self, kind: str, key: str, doc: dict[str, Any], ttl: float | None = None) -> bool:
        """Store it only if (kind, key) holds nothing: True when this call stored it (concurrent claims agree)."""

    @abstractmethod
    def swap_doc(self, kind: str, key: str, expected: dict[str, Any], doc: dict[str, Any]) -> bool:
        """Replace it only if (kind, key) still holds `expected`: True when this call replaced it (of concurrent
        swaps from one state, one wins; a recorder job moved off a dead pool is launched once)."""

    @abstractmethod
    def get_doc(self, kind: str, key: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def list_docs(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every live document of `kind`, by key."""

    @abstractmethod
    def drop_doc(self, kind: str, key: str) -> None: ...


def _same(a: Placement | None, b: Placement) -> bool:
    return a is not None and a.node == b.node and a.generation == b.generation


class MemoryRegistry(Registry):
    """In-process registry. `clock` is injectable so tests can expire nodes without sleeping."""

    def __init__(self, node_ttl: float = DEFAULT_NODE_TTL, clock: Callable[[], float] = time.time) -> None:
        self.node_ttl = node_ttl
        self._clock = clock
        self._lock = threading.RLock()
        self._nodes: dict[str, Node] = {}
        self._regions: dict[str, Region] = {}
        self._tenants: dict[str, TenantView] = {}
        self._placements: dict[tuple[str, str], Placement] = {}
        self._meetings: dict[tuple[str, str], dict[str, float]] = {}  # meeting -> node id -> expiry
        self._docs: dict[tuple[str, str], tuple[str, float | None]] = {}

    def _alive(self, node: Node) -> bool:
        return self._clock() - node.last_heartbeat <= self.node_ttl

    # documents: (kind, key) -> (doc as JSON text, expiry or None); stored as text so callers never share dicts
    def put_doc(self, kind: str, key: str, doc: dict[str, Any], ttl: float | None = None) -> None:
        with self._lock:
            self._docs[(kind, key)] = (json.dumps(doc), None if ttl is None else self._clock() + ttl)

    def claim_doc(self, kind: str, key: str, doc: dict[str, Any], ttl: float | None = None) -> bool:
        with self._lock:
            if self.get_doc(kind, key) is not None:
                return False
            self.put_doc(kind, key, doc, ttl)
            return True

    def swap_doc(self, kind: str, key: str, expected: dict[str, Any], doc: dict[str, Any]) -> bool:
        with self._lock:
            if self.get_doc(kind, key) != expected:
                return False
            self.put_doc(kind, key, doc)
            return True

    def get_doc(self, kind: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            got = self._docs.get((kind, key))
            if got is None:
                return None
            if got[1] is not None and got[1] <= self._clock():
                del self._docs[(kind, key)]
                return None
            return json.loads(got[0])  # type: ignore[no-any-return]

    def list_docs(self, kind: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            keys = [k for (kd, k) in self._docs if kd == kind]
            return {k: d for k in keys if (d := self.get_doc(kind, k)) is not None}

    def drop_doc(self, kind: str, key: str) -> None:
        with self._lock:
            self._docs.pop((kind, key), None)

    def register_node(self, node: Node) -> Node:
        with self._lock:
            stored = replace(node, last_heartbeat=self._clock())
            self._nodes[node.id] = stored
            return stored

    def heartbeat(self, node_id: str, load: float, healthy: bool = True, draining: bool = False) -> bool:
        with self._lock:
            node = self._nodes.get(node_id)
            if node is None or not self._alive(node):
                self._nodes.pop(node_id, None)
                return False
            self._nodes[node_id] = replace(node, load=load, healthy=healthy, draining=draining,
                                           last_heartbeat=self._clock())
            return True

    def update_node(self, node: Node) -> bool:
        with self._lock:
            current = self._nodes.get(node.id)
            if current is None or not self._alive(current):
                self._nodes.pop(node.id, None)
                return False
            self._nodes[node.id] = replace(node, last_heartbeat=self._clock())
            return True

    def deregister_node(self, node_id: str) -> None:
        with self._lock:
            self._nodes.pop(node_id, None)

    def get_node(self, node_id: str) -> Node | None:
        with self._lock:
            node = self._nodes.get(node_id)
            return node if node is not None and self._alive(node) else None

    def list_nodes(self, region: str | None = None) -> list[Node]:
        with self._lock:
            return sorted((n for n in self._nodes.values()
                           if self._alive(n) and (region is None or n.region == region)), key=lambda n: n.id)

    def put_region(self, region: Region) -> None:
        with self._lock:
            self._regions[region.id] = region

    def get_region(self, region_id: str) -> Region | None:
        with self._lock:
            return self._regions.get(region_id)

    def list_regions(self) -> dict[str, Region]:
        with self._lock:
            return dict(self._regions)

    def put_tenant_view(self, view: TenantView) -> None:
        with self._lock:
            self._tenants[view.tenant] = view

    def get_tenant_view(self, tenant_id: str) -> TenantView | None:
        with self._lock:
            return self._tenants.get(tenant_id)

    def claim_placement(self, placement: Placement) -> Placement:
        with self._lock:
            return self._placements.setdefault((placement.tenant, placement.room), placement)

    def get_placement(self, tenant: str, room: str) -> Placement | None:
        with self._lock:
            return self._placements.get((tenant, room))

    def replace_placement(self, expected: Placement, new: Placement) -> Placement | None:
        with self._lock:
            key = (expected.tenant, expected.room)
            current = self._placements.get(key)
            if current is None:
                return None  # the room ended: do not resurrect it
            if _same(current, expected):
                self._placements[key] = new
                return new
            return current

    def drop_placement(self, tenant: str, room: str, expected: Placement | None = None) -> None:
        with self._lock:
            current = self._placements.get((tenant, room))
            if expected is None or _same(current, expected):
                self._placements.pop((tenant, room), None)

    def placements_on(self, node_id: str) -> list[Placement]:
        with self._lock:
            return sorted((p for p in self._placements.values() if p.node == node_id),
                          key=lambda p: (p.tenant, p.room))

    def note_meeting_node(self, tenant: str, room: str, node_id: str, ttl: float) -> None:
        with self._lock:
            self._meetings.setdefault((tenant, room), {})[node_id] = self._clock() + ttl

    def drop_meeting_node(self, tenant: str, room: str, node_id: str) -> None:
        with self._lock:
            entries = self._meetings.get((tenant, room), {})
            entries.pop(node_id, None)
            if not entries:
                self._meetings.pop((tenant, room), None)

    def meeting_nodes(self, tenant: str, room: str) -> list[str]:
        with self._lock:
            entries = self._meetings.get((tenant, room), {})
            now = self._clock()
            for node_id in [n for n, expiry in entries.items() if expiry <= now]:
                del entries[node_id]
            if not entries:
                self._meetings.pop((tenant, room), None)
            return sorted(entries)[:MAX_MEETING_NODES]


class RedisRegistry(Registry):
    """Registry on a real redis-server. Keys (all under `prefix`, default "castellan"):

      {p}:node:{id}            JSON Node, PX = node_ttl (expiry IS the death notice)
      {p}:nodes                set of node ids ever registered (stale ids are pruned on read)
      {p}:regions              hash region id -> JSON Region
      {p}:tenants              hash tenant id -> JSON TenantView
      {p}:placement:{t}:{room} JSON Placement (tenant ids cannot contain ':', so the key is unambiguous)
      {p}:node-rooms:{id}      set of JSON [tenant, room] placed on that node
      {p}:meeting-nodes:{t}:{room}  sorted set: node id scored by its entry's expiry (ms since the epoch); the
                               key itself expires with its longest-lived entry
      {p}:doc:{kind}:{key}     JSON document (recorder pools, recording wants, recorder jobs), PX = its ttl
    """

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", prefix: str = "castellan",
                 node_ttl: float = DEFAULT_NODE_TTL, client: redis.Redis | None = None) -> None:
        import redis  # imported here so the pure core and MemoryRegistry never need it

        self._redis_errors: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError)
        self._watch_error: type[BaseException] = redis.exceptions.WatchError
        # Any: redis-py types every reply as "Awaitable or anything" (one signature for its sync and async
        # clients); with decode_responses=True they are JSON text, parsed by the model's from_dict.
        self.r: Any = client if client is not None else redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.p = prefix
        self.node_ttl = node_ttl
        self._malformed = 0
        self._malformed_meetings = 0
        self.malformed_docs = 0
        self._response_error: type[BaseException] = redis.exceptions.ResponseError

    @contextmanager
    def _io(self) -> Iterator[None]:
        try:
            yield
        except self._redis_errors as exc:
            raise RegistryError("registry_unavailable", f"registry (Redis) unavailable: {exc}") from exc

    def _ttl_ms(self) -> int:
        return max(1, int(self.node_ttl * 1000))

    def ping(self) -> bool:
        try:
            return bool(self.r.ping())
        except self._redis_errors:
            return False

    # nodes
    def register_node(self, node: Node) -> Node:
        stored = replace(node, last_heartbeat=time.time())
        with self._io():
            pipe = self.r.pipeline()
            pipe.set(f"{self.p}:node:{node.id}", json.dumps(stored.to_dict()), px=self._ttl_ms())
            pipe.sadd(f"{self.p}:nodes", node.id)
            pipe.execute()
        return stored

    def heartbeat(self, node_id: str, load: float, healthy: bool = True, draining: bool = False) -> bool:
        key = f"{self.p}:node:{node_id}"
        with self._io():
            raw = self.r.get(key)
            if raw is None:
                return False
            node = replace(Node.from_dict(json.loads(raw)), load=load, healthy=healthy, draining=draining,
                           last_heartbeat=time.time())
            # XX: never resurrect a node that expired between GET and SET.
            return bool(self.r.set(key, json.dumps(node.to_dict()), px=self._ttl_ms(), xx=True))

    def update_node(self, node: Node) -> bool:
        stored = replace(node, last_heartbeat=time.time())
        with self._io():
            # XX: never resurrect a node that expired meanwhile
            return bool(self.r.set(f"{self.p}:node:{node.id}", json.dumps(stored.to_dict()), px=self._ttl_ms(), xx=True))

    def take_malformed(self) -> int:
        count, self._malformed = self._malformed, 0
        return count

    def _parse_node(self, raw: str) -> Node | None:
        """A stored record, or None for one that is not a node record at all (anyone with Redis access can write
        one): skipped and counted, never a crash of the caller."""
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict):
                raise TypeError("not an object")
            return Node.from_dict(doc)
        except (ValueError, TypeError, KeyError):
            self._malformed += 1
            return None

    def deregister_node(self, node_id: str) -> None:
        with self._io():
            self.r.delete(f"{self.p}:node:{node_id}")
            self.r.srem(f"{self.p}:nodes", node_id)

    def get_node(self, node_id: str) -> Node | None:
        with self._io():
            raw = self.r.get(f"{self.p}:node:{node_id}")
        return None if raw is None else self._parse_node(raw)

    def list_nodes(self, region: str | None = None) -> list[Node]:
        with self._io():
            ids = sorted(self.r.smembers(f"{self.p}:nodes"))
            raws = self.r.mget([f"{self.p}:node:{i}" for i in ids]) if ids else []
            expired = [i for i, raw in zip(ids, raws, strict=True) if raw is None]
            if expired:
                self.r.srem(f"{self.p}:nodes", *expired)
        nodes = [n for n in (self._parse_node(raw) for raw in raws if raw is not None) if n is not None]
        return [n for n in nodes if region is None or n.region == region]

    # published policy
    def put_region(self, region: Region) -> None:
        with self._io():
            self.r.hset(f"{self.p}:regions", region.id, json.dumps(region.to_dict()))

    def get_region(self, region_id: str) -> Region | None:
        with self._io():
            raw = self.r.hget(f"{self.p}:regions", region_id)
        return None if raw is None else Region.from_dict(json.loads(raw))

    def list_regions(self) -> dict[str, Region]:
        with self._io():
            raw = self.r.hgetall(f"{self.p}:regions")
        return {str(k): Region.from_dict(json.loads(v)) for k, v in raw.items()}

    def put_tenant_view(self, view: TenantView) -> None:
        with self._io():
            self.r.hset(f"{self.p}:tenants", view.tenant, json.dumps(view.to_dict()))

    def get_tenant_view(self, tenant_id: str) -> TenantView | None:
        with self._io():
            raw = self.r.hget(f"{self.p}:tenants", tenant_id)
        return None if raw is None else TenantView.from_dict(json.loads(raw))

    # placements
    def _pkey(self, tenant: str, room: str) -> str:
        return f"{self.p}:placement:{tenant}:{room}"

    def _index(self, p: Placement) -> tuple[str, str]:
        return f"{self.p}:node-rooms:{p.node}", json.dumps([p.tenant, p.room])

    def claim_placement(self, placement: Placement) -> Placement:
        key = self._pkey(placement.tenant, placement.room)
        with self._io():
            while True:
                if self.r.set(key, json.dumps(placement.to_dict()), nx=True):
                    self.r.sadd(*self._index(placement))
                    return placement
                raw = self.r.get(key)
                if raw is not None:  # None: the room ended between our SET and GET; try again
                    return Placement.from_dict(json.loads(raw))

    def get_placement(self, tenant: str, room: str) -> Placement | None:
        with self._io():
            raw = self.r.get(self._pkey(tenant, room))
        return None if raw is None else Placement.from_dict(json.loads(raw))

    def _check_and_set(self, key: str, writes: Callable[[str | None], Callable[[Any], object] | None]) -> bool:
        """Optimistic compare-and-set on `key`: `writes(raw)`, given what `key` holds under WATCH, says what to queue
        in the transaction (a function of the pipeline) or None to write nothing; if anyone changes `key` before
        EXEC, it is read and decided again. True when the writes ran."""
        with self._io():
            while True:
                with self.r.pipeline() as pipe:
                    try:
                        pipe.watch(key)
                        queue = writes(pipe.get(key))
                        if queue is None:
                            pipe.unwatch()
                            return False
                        pipe.multi()
                        queue(pipe)
                        pipe.execute()
                        return True
                    except self._watch_error:
                        continue  # someone else changed it meanwhile: re-read and decide again

    def replace_placement(self, expected: Placement, new: Placement) -> Placement | None:
        key = self._pkey(expected.tenant, expected.room)
        current: list[Placement | None] = [None]

        def writes(raw: str | None) -> Callable[[Any], object] | None:
            current[0] = None if raw is None else Placement.from_dict(json.loads(raw))
            if current[0] is None or not _same(current[0], expected):
                return None  # None: the room ended, do not resurrect it
            return lambda pipe: (pipe.set(key, json.dumps(new.to_dict())), pipe.srem(*self._index(expected)),
                                 pipe.sadd(*self._index(new)))

        return new if self._check_and_set(key, writes) else current[0]

    def drop_placement(self, tenant: str, room: str, expected: Placement | None = None) -> None:
        key = self._pkey(tenant, room)

        def writes(raw: str | None) -> Callable[[Any], object] | None:
            current = None if raw is None else Placement.from_dict(json.loads(raw))
            if current is None or (expected is not None and not _same(current, expected)):
                return None
            return lambda pipe: (pipe.delete(key), pipe.srem(*self._index(current)))

        self._check_and_set(key, writes)

    def rooms_placed(self, node_id: str) -> int:
        with self._io():
            return int(self.r.scard(f"{self.p}:node-rooms:{node_id}"))

    def placements_on(self, node_id: str) -> list[Placement]:
        with self._io():
            members = sorted(self.r.smembers(f"{self.p}:node-rooms:{node_id}"))
        result = []
        for m in members:
            tenant, room = json.loads(m)
            p = self.get_placement(tenant, room)
            if p is not None and p.node == node_id:
                result.append(p)
        return result

    # the nodes carrying a meeting
    def _mkey(self, tenant: str, room: str) -> str:
        return f"{self.p}:meeting-nodes:{tenant}:{room}"

    def note_meeting_node(self, tenant: str, room: str, node_id: str, ttl: float) -> None:
        key, px = self._mkey(tenant, room), max(1, int(ttl * 1000))
        with self._io():
            pipe = self.r.pipeline()
            pipe.zadd(key, {node_id: int(time.time() * 1000) + px})
            pipe.pexpire(key, px, gt=True)  # never shorten the life of another node's entry
            pipe.pexpire(key, px, nx=True)  # (GT alone leaves a key without expiry as it is)
            pipe.execute()

    def drop_meeting_node(self, tenant: str, room: str, node_id: str) -> None:
        with self._io():
            self.r.zrem(self._mkey(tenant, room), node_id)

    def meeting_nodes(self, tenant: str, room: str) -> list[str]:
        key, now = self._mkey(tenant, room), int(time.time() * 1000)
        with self._io():
            pipe = self.r.pipeline()
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zrangebyscore(key, f"({now}", "+inf", start=0, num=MAX_MEETING_NODES)
            try:
                _, members = pipe.execute()
            except self._response_error:  # WRONGTYPE: something else written under the key; a counted drop
                self._malformed_meetings += 1
                return []
        return sorted(str(m) for m in members)

    def take_malformed_meetings(self) -> int:
        count, self._malformed_meetings = self._malformed_meetings, 0
        return count

    # documents
    def _dkey(self, kind: str, key: str) -> str:
        return f"{self.p}:doc:{kind}:{key}"

    @staticmethod
    def _px(ttl: float | None) -> int | None:
        return None if ttl is None else max(1, int(ttl * 1000))

    def put_doc(self, kind: str, key: str, doc: dict[str, Any], ttl: float | None = None) -> None:
        with self._io():
            self.r.set(self._dkey(kind, key), json.dumps(doc), px=self._px(ttl))

    def claim_doc(self, kind: str, key: str, doc: dict[str, Any], ttl: float | None = None) -> bool:
        with self._io():
            return bool(self.r.set(self._dkey(kind, key), json.dumps(doc), px=self._px(ttl), nx=True))

    def swap_doc(self, kind: str, key: str, expected: dict[str, Any], doc: dict[str, Any]) -> bool:
        dkey = self._dkey(kind, key)

        def writes(raw: str | None) -> Callable[[Any], object] | None:
            if raw is None or self._parse_doc(raw) != expected:
                return None  # gone, or another launcher changed it first
            return lambda pipe: pipe.set(dkey, json.dumps(doc))

        return self._check_and_set(dkey, writes)

    def get_doc(self, kind: str, key: str) -> dict[str, Any] | None:
        with self._io():
            raw = self.r.get(self._dkey(kind, key))
        return None if raw is None else self._parse_doc(raw)

    def _parse_doc(self, raw: str) -> dict[str, Any] | None:
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            self.malformed_docs += 1  # a counted drop, never a crash
            return None
        return doc

    def list_docs(self, kind: str) -> dict[str, dict[str, Any]]:
        prefix = self._dkey(kind, "")
        with self._io():
            keys = sorted(self.r.scan_iter(match=prefix + "*", count=500))
            values = self.r.mget(keys) if keys else []
        out = {}
        for k, raw in zip(keys, values, strict=True):
            doc = None if raw is None else self._parse_doc(raw)
            if doc is not None:
                out[k[len(prefix):]] = doc
        return out

    def drop_doc(self, kind: str, key: str) -> None:
        with self._io():
            self.r.delete(self._dkey(kind, key))
