"""JSON as the control plane produces it (response bodies, the OpenAPI description, audit details).

Sequence/Mapping rather than list/dict, so that e.g. a `list[str]` or `dict[str, str]` is accepted as it is;
`JSONObject` is a plain dict because the documents are built up and then extended key by key. Request bodies
parsed from the wire are still `dict[str, Any]` (see schema.read_json): their types are only known per field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

JSON: TypeAlias = "None | bool | int | float | str | Sequence[JSON] | Mapping[str, JSON]"
JSONObject: TypeAlias = "dict[str, JSON]"
