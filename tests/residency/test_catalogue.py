"""The shipped jurisdiction catalogue: loads, is consistent, cites sources, and bad files are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from residency.catalogue import Catalogue, load_catalogue, parse_catalogue
from residency.errors import CatalogueError, NotFound


def test_shipped_catalogue_covers_the_main_jurisdictions(catalogue: Catalogue) -> None:
    for code in ("EU", "UK", "CH", "US", "CA", "AU", "JP", "KR", "NZ", "IL"):
        assert code in catalogue, code


def test_every_adequacy_names_its_legal_source(catalogue: Catalogue) -> None:
    for j in catalogue.values():
        assert j.source and j.law and j.regime
        for a in j.adequate:
            assert a.source.strip() and a.scope.strip(), (j.code, a.code)


def test_adequacy_is_directional(catalogue: Catalogue) -> None:
    # The EU recognises Switzerland, the UK, Japan and Korea (Commission decisions) ...
    for code in ("CH", "UK", "JP", "KR", "NZ", "IL", "CA"):
        assert catalogue["EU"].recognises(code) is not None, code
    assert "2000/518/EC" in catalogue["EU"].recognises("CH").source  # type: ignore[union-attr]
    # ... the US only for Data Privacy Framework organisations, and that scope is recorded ...
    assert "Data Privacy Framework" in catalogue["EU"].recognises("US").scope  # type: ignore[union-attr]
    # ... but Australia is not recognised by the EU, and the US recognises nobody.
    assert catalogue["EU"].recognises("AU") is None
    assert catalogue["US"].adequate == ()
    # Japan recognises the EEA and the UK, not Switzerland.
    assert {a.code for a in catalogue["JP"].adequate} == {"EU", "UK"}


def test_unknown_jurisdiction_is_a_clear_error(catalogue: Catalogue) -> None:
    with pytest.raises(NotFound) as err:
        catalogue.get_jurisdiction("XX")
    assert err.value.code == "unknown_jurisdiction" and "XX" in err.value.message


def _doc(*entries: dict[str, object]) -> dict[str, object]:
    return {"format": 1, "jurisdictions": list(entries)}


def _j(code: str, adequate: list[dict[str, str]] | None = None) -> dict[str, object]:
    return {"code": code, "name": code, "law": "l", "regime": "r", "source": "s", "adequate": adequate or []}


@pytest.mark.parametrize("doc, fragment", [
    (_doc(_j("AA", [{"code": "ZZ", "scope": "full", "source": "x"}])), "unknown jurisdiction"),
    (_doc(_j("AA", [{"code": "AA", "scope": "full", "source": "x"}])), "itself"),
    (_doc(_j("AA"), _j("AA")), "twice"),
    (_doc(_j("AA", [{"code": "BB", "scope": "full", "source": ""}]), _j("BB")), "source"),
    (_doc({"code": "AA"}), "lacks"),
    ({"format": 2, "jurisdictions": []}, "format 1"),
])
def test_inconsistent_catalogues_are_refused(doc: dict[str, object], fragment: str) -> None:
    with pytest.raises(CatalogueError) as err:
        parse_catalogue(doc)
    assert fragment in err.value.message


def test_an_operator_can_ship_their_own_catalogue(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(_doc(_j("AA", [{"code": "BB", "scope": "full", "source": "treaty"}]), _j("BB"))))
    mine = load_catalogue(path)
    assert mine["AA"].recognises("BB") is not None and mine["BB"].recognises("AA") is None
    with pytest.raises(CatalogueError):
        load_catalogue(tmp_path / "missing.json")
