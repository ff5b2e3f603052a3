"""`create_app(config, ...) -> Starlette`: the control plane's HTTP app, dependencies injectable.

`castellan dev` builds the pieces itself (to share the registry and key ring with its in-process node) and
passes them in; `castellan control-plane` lets `create_app` open them from the config.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from residency.errors import ResidencyError
from signalling.tokens import KeyRing

from . import accesslog, openapi
from .config import ControlConfig
from .endpoints import ENDPOINTS
from .errors import ApiError, api_error_handler, error_response
from .linkids import LINK_PATTERN
from .nodeadmin import HttpNodeAdmin, NodeAdmin
from .ports import ResidencyPort
from .routing import Endpoint
from .service import ControlPlane, residency_error
from .store import Store

# the browser client (signalling/client/: static assets, no build step), served at /static/ and /j/{link}
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


# what the browser client needs and nothing more (it runs with no violation under it: tests/browser)
CLIENT_CSP = ("default-src 'none'; script-src 'self'; worker-src 'self'; style-src 'self'; img-src 'self' data:; "
              "media-src 'self' blob: mediastream:; connect-src 'self' ws: wss:; frame-ancestors 'none'; "
              "base-uri 'none'; form-action 'none'")


def _with_headers(app: ASGIApp, headers: dict[str, str]) -> ASGIApp:
    """An ASGI wrapper adding response headers (the static client files: CSP, no caching of unhashed files)."""
    extra = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await app(scope, receive, send_with_headers)

    return wrapped


async def _join_page(request: Request) -> Response:
    """The link page. Serves the browser client when it is installed; the #fragment stays in the browser."""
    import re

    link = request.path_params["link"]
    if re.fullmatch(LINK_PATTERN, link) is None:
        raise ApiError(404, "link_not_found", "this meeting link is not valid")
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": CLIENT_CSP, "X-Frame-Options": "DENY"}
    for name in ("join.html", "index.html"):
        page = CLIENT_DIR / name
        if page.is_file():
            return HTMLResponse(page.read_text(), headers=headers)
    return HTMLResponse(
        f"<!doctype html><title>Castellan</title><p>Meeting link <code>{html.escape(link)}</code>. "
        "The browser client is not installed on this server.</p>",
        headers=headers,
    )


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
        Route("/j/{link}", _join_page, methods=["GET"]),
    ]
    if CLIENT_DIR.is_dir():  # the browser client (signalling/client)
        static = _with_headers(StaticFiles(directory=CLIENT_DIR), {
            "Content-Security-Policy": CLIENT_CSP, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})
        routes.append(Mount("/static", app=static, name="static"))
    app = Starlette(
        routes=routes,
        exception_handlers={ApiError: api_error_handler, HTTPException: _http_error,
                            ResidencyError: _residency_error, Exception: _unexpected},
        lifespan=lifespan,
    )
    app.state.control = control
    config.forwarded_rule()  # a bad --trusted-proxies fails here, at start, not at the first join
    app.state.draining = False
    app.state.openapi = openapi.build(ENDPOINTS)
    return app
