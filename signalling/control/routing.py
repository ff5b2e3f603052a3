"""A tiny route table: each endpoint declares its body spec, path/query parameters, auth and responses once;
`app.py` mounts them and `openapi.py` describes them from the same declarations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from .errors import ApiError
from .jsontypes import JSONObject
from .schema import Int, ObjectSpec, Str


@dataclass(frozen=True)
class Params:
    """A request's validated parameters: path parameters are text, query parameters integers."""

    path: dict[str, str] = field(default_factory=dict)
    query: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, name: str) -> str:
        return self.path[name]


Handler = Callable[[Request, Params], Awaitable[Response]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    auth: str | None = None  # "admin" | "operator" | "host" | "pool" (a recorder pool key) | "ticket" | None
    body: ObjectSpec | None = None
    path_params: dict[str, Str] = field(default_factory=dict)
    query: dict[str, Int] = field(default_factory=dict)
    ok: dict[int, JSONObject] = field(default_factory=lambda: {200: {"type": "object"}})
    errors: tuple[int, ...] = ()
    content_type: str = "application/json"
    content_types: tuple[str, ...] = ()  # further types a success may have (a recorded file: audio or video)

    def parse_params(self, request: Request) -> Params:
        out = Params()
        for name, spec in self.path_params.items():
            out.path[name] = spec.check(name, request.path_params.get(name))
        unknown = sorted(set(request.query_params) - set(self.query))
        if unknown:
            raise ApiError(400, "unknown_parameter", f"unknown query parameter(s): {', '.join(unknown)}")
        for name, ispec in self.query.items():
            raw = request.query_params.get(name)
            if raw is not None:
                if not (raw.isascii() and raw.isdigit()) or len(raw) > 6:  # '²'.isdigit() is true
                    raise ApiError(400, "invalid_parameter", f"{name!r} must be a non-negative integer")
                out.query[name] = ispec.check(name, int(raw))
        return out

    def error_codes(self) -> list[int]:
        codes = set(self.errors)
        if self.path_params or self.query or self.body is not None:
            codes.add(400)
        if self.body is not None:
            codes.add(413)
        if self.auth in ("admin", "operator", "pool"):
            codes.update({401, 403})
        if self.auth in ("host", "ticket"):
            codes.add(403)
        return sorted(codes)
