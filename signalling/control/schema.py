"""Request bodies: strict parsing (size limit, JSON, object, known fields, types) with the JSON Schema it implies.

Each request body is an `ObjectSpec`; the same spec validates at run time and renders the OpenAPI schema,
so the published description cannot drift from what the server accepts.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, NoReturn

from starlette.requests import Request

from .errors import ApiError
from .jsontypes import JSONObject

MAX_BODY = 16 * 1024


@dataclass(frozen=True)
class Str:
    max_len: int = 256
    min_len: int = 0
    pattern: str | None = None  # anchored with ^...$ in the published schema
    description: str = ""

    def check(self, name: str, v: object) -> str:
        if not isinstance(v, str):
            raise ApiError(400, "invalid_field", f"{name!r} must be a string")
        if not self.min_len <= len(v) <= self.max_len:
            raise ApiError(400, "invalid_field", f"{name!r} must be {self.min_len}..{self.max_len} characters")
        if self.pattern is not None and re.fullmatch(self.pattern, v) is None:
            raise ApiError(400, "invalid_field", f"{name!r} has an invalid format")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in v):
            raise ApiError(400, "invalid_field", f"{name!r} must not contain control characters")
        return v

    def json_schema(self) -> JSONObject:
        s: JSONObject = {"type": "string", "minLength": self.min_len, "maxLength": self.max_len}
        if self.pattern is not None:
            s["pattern"] = f"^{self.pattern}$"
        else:
            s["pattern"] = "^[^\\x00-\\x1f\\x7f]*$"
        if self.description:
            s["description"] = self.description
        return s


@dataclass(frozen=True)
class Int:
    minimum: int = 0
    maximum: int = 2**31
    description: str = ""

    def check(self, name: str, v: object) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            if isinstance(v, float) and math.isfinite(v) and v.is_integer():
                v = int(v)
            else:
                raise ApiError(400, "invalid_field", f"{name!r} must be an integer")
        if not self.minimum <= v <= self.maximum:
            raise ApiError(400, "invalid_field", f"{name!r} must be between {self.minimum} and {self.maximum}")
        return int(v)

    def json_schema(self) -> JSONObject:
        s: JSONObject = {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}
        if self.description:
            s["description"] = self.description
        return s


@dataclass(frozen=True)
class Bool:
    description: str = ""

    def check(self, name: str, v: object) -> bool:
        if not isinstance(v, bool):
            raise ApiError(400, "invalid_field", f"{name!r} must be true or false")
        return v

    def json_schema(self) -> JSONObject:
        s: JSONObject = {"type": "boolean"}
        if self.description:
            s["description"] = self.description
        return s


@dataclass(frozen=True)
class Enum:
    values: tuple[str, ...]
    description: str = ""

    def check(self, name: str, v: object) -> str:
        if not isinstance(v, str) or v not in self.values:
            raise ApiError(400, "invalid_field", f"{name!r} must be one of {', '.join(self.values)}")
        return v

    def json_schema(self) -> JSONObject:
        s: JSONObject = {"type": "string", "enum": list(self.values)}
        if self.description:
            s["description"] = self.description
        return s


@dataclass(frozen=True)
class StrList:
    item: Str
    max_items: int = 32

    def check(self, name: str, v: object) -> list[str]:
        if not isinstance(v, list) or len(v) > self.max_items:
            raise ApiError(400, "invalid_field", f"{name!r} must be a list of at most {self.max_items} strings")
        return [self.item.check(f"{name}[]", x) for x in v]

    def json_schema(self) -> JSONObject:
        return {"type": "array", "items": self.item.json_schema(), "maxItems": self.max_items}


@dataclass(frozen=True)
class StrMap:
    """A JSON object of text keys to text values (e.g. region id -> opt-in reason)."""

    key: Str
    value: Str
    max_items: int = 32
    description: str = ""

    def check(self, name: str, v: object) -> dict[str, str]:
        if not isinstance(v, dict) or len(v) > self.max_items:
            raise ApiError(400, "invalid_field", f"{name!r} must be an object of at most {self.max_items} entries")
        return {self.key.check(f"{name} key", k): self.value.check(f"{name}[{k!r}]", x) for k, x in v.items()}

    def json_schema(self) -> JSONObject:
        s: JSONObject = {"type": "object", "maxProperties": self.max_items,
                         "propertyNames": self.key.json_schema(), "additionalProperties": self.value.json_schema()}
        if self.description:
            s["description"] = self.description
        return s


FieldSpec = Str | Int | Bool | Enum | StrList | StrMap


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    fields: dict[str, FieldSpec]
    required: tuple[str, ...] = ()
    description: str = ""
    examples: list[JSONObject] = field(default_factory=list)

    def validate(self, data: object) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ApiError(400, "invalid_body", "request body must be a JSON object")
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise ApiError(400, "unknown_field", f"unknown field(s): {', '.join(unknown)}")
        missing = [f for f in self.required if f not in data]
        if missing:
            raise ApiError(400, "missing_field", f"missing field(s): {', '.join(missing)}")
        return {k: self.fields[k].check(k, v) for k, v in data.items()}

    def json_schema(self) -> JSONObject:
        s: JSONObject = {
            "type": "object",
            "additionalProperties": False,
            "properties": {k: f.json_schema() for k, f in self.fields.items()},
        }
        if self.required:
            s["required"] = list(self.required)
        if self.description:
            s["description"] = self.description
        return s


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


async def read_json(request: Request, spec: ObjectSpec, max_body: int = MAX_BODY) -> dict[str, Any]:
    """Reads at most `max_body` bytes, parses strict JSON (no NaN/Infinity) and validates it against `spec`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):  # '²'.isdigit() is true; int('²') raises
            raise ApiError(400, "invalid_body", "Content-Length is not a number")
        if int(declared) > max_body:
            raise ApiError(413, "body_too_large", f"request body exceeds {max_body} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            raise ApiError(413, "body_too_large", f"request body exceeds {max_body} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        data: object = {}
    else:
        try:
            data = json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            raise ApiError(400, "malformed_json", f"request body is not valid JSON: {str(e)[:120]}") from None
    return spec.validate(data)
