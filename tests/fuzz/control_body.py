"""Control-plane requests as the endpoints read them, before any handler: every Endpoint of
signalling.control.endpoints.ENDPOINTS parses its path and query parameters (Endpoint.parse_params) and its
body (schema.read_json: size limit, Content-Length, strict JSON, the ObjectSpec) from a real Starlette Request.
Anything malformed is an ApiError with a 4xx status, nothing else; what validates has exactly the declared
fields, of the declared types.

Input: endpoint byte, header-mode byte (Content-Length declared right / absent / fuzzed; body in one or two
chunks), then NUL-separated parts: query string, Content-Length value, each path parameter, body."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from starlette.requests import Request

from signalling.control.endpoints import ENDPOINTS
from signalling.control.errors import ApiError
from signalling.control.schema import Bool, Enum, Int, Str, StrList, read_json

TYPES = {Str: str, Enum: str, Int: int, Bool: bool, StrList: list}


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Runs a coroutine that never waits on anything (the request's body is already in memory)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise AssertionError("read_json waited on something")


def check(data: bytes) -> None:
    if len(data) < 2:
        return
    endpoint = ENDPOINTS[data[0] % len(ENDPOINTS)]
    mode = data[1]
    parts = data[2:].split(b"\0")
    query, declared = (parts[0] if parts else b""), (parts[1] if len(parts) > 1 else b"")
    names = list(endpoint.path_params)
    values = parts[2:2 + len(names)]
    body = b"\0".join(parts[2 + len(names):])
    headers = [(b"content-type", b"application/json")]
    if mode & 3 == 0:
        headers.append((b"content-length", str(len(body)).encode()))
    elif mode & 3 == 1:
        headers.append((b"content-length", declared))
    chunks = [body[:len(body) // 2], body[len(body) // 2:]] if mode & 4 else [body]
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    scope = {"type": "http", "method": endpoint.method, "path": endpoint.path, "root_path": "",
             "query_string": query, "headers": headers,
             "path_params": {n: v.decode("utf-8", "replace") for n, v in zip(names, values, strict=False)}}
    request = Request(scope, receive)
    try:
        endpoint.parse_params(request)
        if endpoint.body is None:
            return
        got = _run(read_json(request, endpoint.body, 16 * 1024))
    except ApiError as e:
        if not 400 <= e.status < 500:
            raise AssertionError(f"{endpoint.path}: ApiError {e.status} for a bad request") from e
        return
    spec = endpoint.body
    for name, value in got.items():
        field = spec.fields.get(name)
        if field is None or type(value) is not TYPES[type(field)]:
            raise AssertionError(f"{endpoint.path}: validated {name}={value!r} against {field!r}")


if __name__ == "__main__":
    from tests.fuzz.runner import main

    main("control_body")
