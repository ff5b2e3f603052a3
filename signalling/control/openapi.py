"""The OpenAPI 3.1 description, generated from the endpoint table (so it matches what the server does)."""

from __future__ import annotations

from .jsontypes import JSONObject
from .routing import Endpoint

ERROR: JSONObject = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string", "description": "stable machine code"},
                   "message": {"type": "string", "description": "for people"},
                   "retry_after": {"type": "integer"}},
}
STATUS_TEXT = {400: "Bad input", 401: "Missing or unknown credentials", 403: "Forbidden", 404: "Not found",
               409: "Conflict", 410: "Gone (revoked or expired)", 413: "Body too large",
               422: "Refused by policy", 429: "Too many attempts (see Retry-After)",
               502: "A node did not answer", 503: "Unavailable (placement refused, fail closed)"}


def _operation(ep: Endpoint) -> JSONObject:
    op: JSONObject = {"summary": ep.summary, "tags": [ep.tag], "operationId": ep.handler.__name__}
    params: list[JSONObject] = [
        {"name": n, "in": "path", "required": True, "schema": spec.json_schema()} for n, spec in ep.path_params.items()
    ]
    params += [{"name": n, "in": "query", "required": False, "schema": spec.json_schema()} for n, spec in ep.query.items()]
    if ep.auth == "host":
        params.append({"name": "X-Host-Key", "in": "header", "required": True,
                       "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                       "description": "the host key from the host link"})
    if params:
        op["parameters"] = params
    if ep.auth in ("admin", "operator"):
        op["security"] = [{"adminKey": []}]
    if ep.auth == "pool":
        op["security"] = [{"recorderPoolKey": []}]
    if ep.body is not None:
        op["requestBody"] = {
            "required": bool(ep.body.required),
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ep.body.name}"}}},
        }
    responses: dict[str, JSONObject] = {
        str(code): {"description": "OK", "content": {t: {"schema": schema} for t in (ep.content_type, *ep.content_types)}}
        for code, schema in ep.ok.items()
    }
    for code in ep.error_codes():
        responses[str(code)] = {
            "description": STATUS_TEXT.get(code, "Error"),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        if code == 429:
            responses[str(code)]["headers"] = {"Retry-After": {"schema": {"type": "string"}, "required": True}}
    op["responses"] = responses
    return op


def build(endpoints: list[Endpoint], server_url: str | None = None) -> JSONObject:
    paths: dict[str, JSONObject] = {}
    schemas: JSONObject = {"Error": ERROR}
    for ep in endpoints:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep)
        if ep.body is not None:
            schemas[ep.body.name] = ep.body.json_schema()
    text: JSONObject = {"200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}}
    paths["/healthz"] = {"get": {"summary": "Liveness", "tags": ["ops"], "operationId": "healthz",
                                 "responses": {"200": {"description": "alive", "content": {
                                     "application/json": {"schema": {"type": "object"}}}}}}}
    paths["/readyz"] = {"get": {"summary": "Readiness (503 when a needed store is unreachable)", "tags": ["ops"],
                                "operationId": "readyz",
                                "responses": {code: {"description": d, "content": {
                                    "application/json": {"schema": {"type": "object"}}}}
                                    for code, d in (("200", "ready"), ("503", "not ready"))}}}
    paths["/openapi.json"] = {"get": {"summary": "This description", "tags": ["ops"], "operationId": "openapi",
                                      "responses": {"200": {"description": "OpenAPI 3.1", "content": {
                                          "application/json": {"schema": {"type": "object"}}}}}}}
    paths["/j/{link}"] = {"get": {
        "summary": "The meeting link page (the browser client); the #fragment with the E2EE secret stays in the browser",
        "tags": ["join"], "operationId": "join_page",
        "parameters": [{"name": "link", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}},
                      "404": {"description": "Not a link", "content": {"application/json": {
                          "schema": {"$ref": "#/components/schemas/Error"}}}}}}}
    paths["/metrics"] = {"get": {"summary": "Prometheus metrics", "tags": ["ops"], "operationId": "metrics",
                                 "responses": text}}
    doc: JSONObject = {
        "openapi": "3.1.0",
        "info": {"title": "Castellan control plane", "version": "1",
                 "description": "Tenants, admin keys, meeting links, joins, lobby and join-token keys. Every error "
                                "is JSON {error, message}. Unknown fields are refused; bodies are limited in size."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"adminKey": {"type": "http", "scheme": "bearer",
                                             "description": "tenant admin key or operator key (cak_...)"},
                                "recorderPoolKey": {"type": "http", "scheme": "bearer",
                                                    "description": "a region's recorder pool key (crk_...): "
                                                                   "announce that pool, fetch its jobs' recorder "
                                                                   "credentials; nothing else"}},
        },
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc
