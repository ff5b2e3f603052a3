"""Loads and validates the jurisdiction catalogue (`jurisdictions.json`, shipped with the package).

The catalogue says, per jurisdiction, which other jurisdictions its law recognises as adequate and where that
fact comes from. It is data, not code, so an operator's lawyers can review and replace it
(`load_catalogue(path)`). Validation is strict because a typo here would silently change who may opt in where:
unknown codes, duplicates, self-references and missing sources are all startup errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CatalogueError, NotFound
from .model import Adequacy, Jurisdiction

_REQUIRED = ("code", "name", "law", "regime", "source", "adequate")


@dataclass(frozen=True)
class Catalogue(Mapping[str, Jurisdiction]):
    """Read-only mapping code -> Jurisdiction, plus the file's `as_of` date."""

    jurisdictions: Mapping[str, Jurisdiction]
    as_of: str

    def __getitem__(self, code: str) -> Jurisdiction:
        return self.jurisdictions[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self.jurisdictions)

    def __len__(self) -> int:
        return len(self.jurisdictions)

    def get_jurisdiction(self, code: str) -> Jurisdiction:
        """Like `self[code]`, but raising a clear `NotFound("unknown_jurisdiction")`."""
        try:
            return self.jurisdictions[code]
        except KeyError:
            raise NotFound("unknown_jurisdiction",
                           f"jurisdiction {code!r} is not in the catalogue (known: {', '.join(sorted(self))})"
                           ) from None


def parse_catalogue(doc: Any) -> Catalogue:
    """Validate a parsed catalogue document and build the `Catalogue`."""
    if not isinstance(doc, dict) or doc.get("format") != 1 or not isinstance(doc.get("jurisdictions"), list):
        raise CatalogueError("invalid_catalogue", "catalogue must be an object with format 1 and a jurisdictions list")
    raw: dict[str, dict[str, Any]] = {}
    for entry in doc["jurisdictions"]:
        missing = [k for k in _REQUIRED if not isinstance(entry, dict) or k not in entry]
        if missing:
            raise CatalogueError("invalid_catalogue", f"catalogue entry {entry!r} lacks {', '.join(missing)}")
        code = entry["code"]
        if code in raw:
            raise CatalogueError("invalid_catalogue", f"jurisdiction {code!r} appears twice")
        raw[code] = entry
    result: dict[str, Jurisdiction] = {}
    for code, entry in raw.items():
        adequate: list[Adequacy] = []
        for a in entry["adequate"]:
            other = a.get("code") if isinstance(a, dict) else None
            if other not in raw:
                raise CatalogueError("invalid_catalogue", f"{code} lists unknown jurisdiction {other!r} as adequate")
            if other == code:
                raise CatalogueError("invalid_catalogue", f"{code} lists itself as adequate")
            if any(x.code == other for x in adequate):
                raise CatalogueError("invalid_catalogue", f"{code} lists {other} as adequate twice")
            if not a.get("source") or not a.get("scope"):
                raise CatalogueError("invalid_catalogue", f"{code} -> {other}: adequacy needs a scope and a source")
            adequate.append(Adequacy(code=other, scope=a["scope"], source=a["source"]))
        result[code] = Jurisdiction(code=code, name=entry["name"], law=entry["law"], regime=entry["regime"],
                                    source=entry["source"], adequate=tuple(adequate))
    return Catalogue(jurisdictions=result, as_of=str(doc.get("as_of", "")))


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Load `path`, or the shipped `residency/jurisdictions.json` when None."""
    try:
        if path is None:
            text = (Path(__file__).parent / "jurisdictions.json").read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
        doc = json.loads(text)
    except (OSError, ValueError) as exc:
        raise CatalogueError("invalid_catalogue", f"cannot read catalogue {path or 'jurisdictions.json'}: {exc}") from exc
    return parse_catalogue(doc)
