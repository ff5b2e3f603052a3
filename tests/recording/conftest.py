"""The residency catalogue (jurisdictions) for the recorder placement tests."""

from __future__ import annotations

import pytest

from residency.catalogue import Catalogue, load_catalogue


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue()
