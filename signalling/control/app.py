"""`create_app(config, ...) -> Starlette`: the control plane's HTTP app, dependencies injectable.

`castellan dev` builds the pieces itself (to share the registry and key ring with its in-process node) and
passes them in; `castellan control-plane` lets `create_app` open them from the config.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from residency.errors import ResidencyError
from signalling.tokens import KeyRing

from . import accesslog, openapi
from .config import ControlConfig
from .console import ConsolePages
from .endpoints import ENDPOINTS
from .errors import ApiError, api_error_handler, error_response
from .nodeadmin import HttpNodeAdmin, NodeAdmin
from .pages import ClientPages
from .ports import ResidencyPort
from .recordings import open_recordings
from .release import product_version
from .routing import Endpoint
from .service import ControlPlane, residency_error
from .store import Store

# the browser client (signalling/client/: static assets, no build step), served at /static/ and /j/{link} (pages.py)
CLIENT_DIR = Path(__file__).resolve().parent.parent / "client"


def _mount(path: str, endpoints: list[Endpoint]) -> Route:
    """One route per path, so an undeclared method is a JSON 405 whose `Allow` lists every declared method."""
    by_method = {ep.method: ep for ep in endpoints}
    allow = ", ".join(sorted(by_method))

    async def endpoint(request: Request) -> Response:
        ep = by_method.get(request.method)
        if ep is None:
            raise ApiError(405, "method_not_allowed", f"{request.method} is not allowed here; use {allow}",
                           headers={"Allow": allow})
        params = ep.parse_params(request)
        return await ep.handler(request, params)

    every = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]
    return Route(path, endpoint, methods=every, name=endpoints[0].handler.__name__)


async def _healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _readyz(request: Request) -> Response:
    control: ControlPlane = request.app.state.control
    checks = {"store": control.store.ping(), "residency": control.residency.ready()}
    ok = all(checks.values()) and not request.app.state.draining
    return JSONResponse({"ready": ok, "checks": checks, "draining": request.app.state.draining},
                        status_code=200 if ok else 503)


async def _metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def _openapi(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


def client_pages(config: ControlConfig, residency: ResidencyPort) -> ClientPages:
    """The browser client's pages under a connect-src naming the configured node origins, else the registry's."""
    return ClientPages(config.client_dir or CLIENT_DIR, version=product_version(), development=config.dev_client,
                       configured=config.node_origins, registered=residency.node_ws_urls)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(ApiError(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {})))


async def _residency_error(request: Request, exc: Exception) -> Response:
    """A residency refusal that escaped a handler (e.g. the registry went away mid-request): still clear JSON."""
    assert isinstance(exc, ResidencyError)
    return error_response(residency_error(exc))


async def _unexpected(request: Request, exc: Exception) -> Response:
    return error_response(ApiError(500, "internal_error", "internal error (logged)"))


async def _maintain(control: ControlPlane, interval: float = 2.0) -> None:
    """Residency's periodic reconciliation (node arrivals/departures, re-placing rooms of dead nodes)."""
    maintain = getattr(control.residency, "maintain", None)
    while maintain is not None:
        await asyncio.sleep(interval)
        try:
            # off the event loop: it health-checks nodes over HTTP (in `castellan dev` the node is served by
            # this very loop)
            await asyncio.to_thread(maintain)
        except Exception:  # keep reconciling; readyz reports a dead registry
            logging.getLogger(__name__).exception("residency maintenance failed")


def build_control_plane(
    config: ControlConfig,
    *,
    residency: ResidencyPort,
    store: Store | None = None,
    keyring: KeyRing | None = None,
    node_admin: NodeAdmin | None = None,
) -> ControlPlane:
    store = store or Store(config.database(), upgrade=config.schema_upgrade)
    keyring = keyring or KeyRing.open(config.key_dir(), grace=config.key_grace)
    shared: dict[str, Any] = {}
    if config.redis_url:  # several control-plane processes: one password-failure budget, one request bucket
        import redis

        from .inflight import RedisInFlight
        from .redis_limiter import RedisFailureLimiter
        from .redis_requests import RedisRequestLimiter

        client = redis.Redis.from_url(config.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
        limiter = RedisFailureLimiter(client, config.limits)
        shared = {"limiter": limiter, "inflight": RedisInFlight(client, limiter),
                  "requests": RedisRequestLimiter(client, config.join_rate, config.join_burst)}
    control = ControlPlane(config, store=store, residency=residency, keyring=keyring, node_admin=node_admin,
                           **shared)
    if control.node_admin is None:
        control.node_admin = HttpNodeAdmin(control.issuer, residency.node_http_url)
    control.recordings = open_recordings(config, store.db, residency.audit_signing_key())
    if config.pool_keys:
        from .recorderpools import RecorderPools
        from .residency_adapter import CONFIG_ACTOR

        pools = RecorderPools(control)
        for region, key in config.pool_keys:
            pools.enroll_configured_key(CONFIG_ACTOR, region=region, key=key, label="deployment configuration")
    return control


def create_app(
    config: ControlConfig,
    *,
    residency: ResidencyPort | None = None,
    store: Store | None = None,
    keyring: KeyRing | None = None,
    node_admin: NodeAdmin | None = None,
    control: ControlPlane | None = None,
) -> Starlette:
    accesslog.install()  # link ids and lobby tickets never reach the access log
    if control is None:
        if residency is None:
            from .residency_adapter import open_residency

            residency = open_residency(config)
        control = build_control_plane(config, residency=residency, store=store, keyring=keyring, node_admin=node_admin)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.draining = False
        task = asyncio.create_task(_maintain(app.state.control))
        try:
            yield
        finally:
            app.state.draining = True
            task.cancel()

    grouped: dict[str, list[Endpoint]] = {}
    for ep in ENDPOINTS:
        grouped.setdefault(ep.path, []).append(ep)
    routes: list[BaseRoute] = [_mount(path, eps) for path, eps in grouped.items()]
    routes += [
        Route("/healthz", _healthz, methods=["GET"]),
        Route("/readyz", _readyz, methods=["GET"]),
        Route("/metrics", _metrics, methods=["GET"]),
        Route("/openapi.json", _openapi, methods=["GET"]),
    ]
    pages = client_pages(config, control.residency)
    routes += [Route("/j/{link}", pages.join_page, methods=["GET", "HEAD"]),
               Route("/static/{name:path}", pages.static, methods=["GET", "HEAD"])]
    console = ConsolePages()  # the tenant admin console (console.py)
    routes += [Route("/console", console.page, methods=["GET", "HEAD"]),
               Route("/console/{name:path}", console.static, methods=["GET", "HEAD"])]
    app = Starlette(
        routes=routes,
        exception_handlers={ApiError: api_error_handler, HTTPException: _http_error,
                            ResidencyError: _residency_error, Exception: _unexpected},
        lifespan=lifespan,
    )
    app.state.control = control
    app.state.pages = pages
    config.forwarded_rule()  # a bad --trusted-proxies fails here, at start, not at the first join
    app.state.draining = False
    app.state.openapi = openapi.build(ENDPOINTS)
    return app
