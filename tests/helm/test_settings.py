"""The chart works as shipped (issue 13): every env var the chart sets is read by the product, and every setting
the product reads can be set by the chart — both held against one table, signalling/settings.py, which
docs/contracts.md must also list.

What the product reads comes from the processes' own argument parsers (each flag reads CASTELLAN_<FLAG>), not
from the table; what the chart sets comes from `helm template` (tests/helm/test_chart.py's render)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from signalling import settings
from tests.helm.test_chart import EVERYTHING, component, env_of, example_values, render
from tests.helm.test_recording import RECORDING
from tests.helm.test_recording_s3 import RECORDING_S3

ROOT = Path(__file__).resolve().parents[2]
# one values set per branch of the templates that adds an env var
CASES: dict[str, dict[str, Any]] = {
    "default": {},
    "three-regions": example_values(),
    "everything": EVERYTHING,
    "own keys and CA": {"caBundle": {"existingSecret": "corp-ca"}, "transparencyLog": {"keySecret": "log-key"},
                        "controlPlane": {"trustForwardedFor": True, "trustedProxies": ["10.0.0.0/8"],
                                         "replicas": 2, "database": {"existingSecret": "castellan-pg"}},
                        "regions": [{"name": "eu-1", "jurisdiction": "EU",
                                     "nodeKey": {"existingSecret": "eu-1-node-key",
                                                 "publicKeys": ["A" * 42 + "E"]}}]},
    "recording": RECORDING,
    "recording in S3": RECORDING_S3,
    "recording, generated pool keys": {**RECORDING, "recording": {
        **RECORDING["recording"], "pools": [{**pool, "poolKey": {}} for pool in RECORDING["recording"]["pools"]]}},
}
PROCESSES = [settings.CONTROL_PLANE, settings.NODE, settings.RECORDER_POOL]


def _env_name(option: str) -> str:
    return "CASTELLAN_" + option.lstrip("-").upper().replace("-", "_")


def product_reads() -> dict[str, set[str]]:
    from sfu.server import parser as node_parser
    from signalling.cli import control_plane

    top = argparse.ArgumentParser()
    control_plane.add_parser(top.add_subparsers())
    cp_parser = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction)).choices["control-plane"]

    def names(p: argparse.ArgumentParser) -> set[str]:
        return {_env_name(o) for a in p._actions for o in a.option_strings if o.startswith("--") and o != "--help"}

    from recording.pool.__main__ import ENV as pool_env
    from recording.pool.__main__ import parser as pool_parser

    # the pool's options map to env names of their own (recording/pool/__main__.py ENV): each option has one, but
    # --interval (a test knob)
    options = {o for a in pool_parser()._actions for o in a.option_strings if o.startswith("--")}
    assert options - {"--help", "--interval"} == set(pool_env)
    # CASTELLAN_OPERATOR_KEY is read from the environment directly (a secret never becomes a flag)
    return {settings.CONTROL_PLANE: names(cp_parser) | {"CASTELLAN_OPERATOR_KEY"}, settings.NODE: names(node_parser()),
            settings.RECORDER_POOL: set(pool_env.values())}


def chart_sets() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {process: set() for process in PROCESSES}
    for values in CASES.values():
        docs = render(values)
        for process in out:
            for dep in component(docs, "Deployment", process):
                for c in dep["spec"]["template"]["spec"]["containers"]:
                    out[process] |= {n for n in env_of(c) if n.startswith("CASTELLAN_")}
    return out


@pytest.fixture(scope="module")
def rendered() -> dict[str, set[str]]:
    return chart_sets()


@pytest.mark.parametrize("process", PROCESSES)
def test_the_table_is_what_the_product_reads(process: str) -> None:
    table = {n for n, s in settings.of(process).items() if s.reader is not None}
    assert product_reads()[process] == table


@pytest.mark.parametrize("process", PROCESSES)
def test_every_variable_the_chart_sets_is_read(process: str, rendered: dict[str, set[str]]) -> None:
    table = settings.of(process)
    unknown = rendered[process] - set(table)
    assert not unknown, f"the chart sets {sorted(unknown)} for the {process}, which the product does not read"
    unread = [n for n in rendered[process] if table[n].reader is None and not table[n].pending]
    assert not unread, unread
    pending = sorted(n for n in rendered[process] if table[n].reader is None)
    assert pending == sorted(n for n, s in table.items() if s.pending and s.process == process)


@pytest.mark.parametrize("process", PROCESSES)
def test_every_setting_the_product_reads_can_be_set_by_the_chart(process: str, rendered: dict[str, set[str]]) -> None:
    for name, s in settings.of(process).items():
        if s.chart.startswith("not set:"):
            assert len(s.chart) > len("not set: ") + 10, f"{name}: say why the chart leaves it alone"
            assert name not in rendered[process], f"{name} is rendered but the table says the chart does not set it"
        else:
            assert name in rendered[process], f"{name} ({s.chart}) is never rendered for the {process}"


def test_docs_contracts_lists_every_setting() -> None:
    text = (ROOT / "docs" / "contracts.md").read_text()
    missing = sorted({s.name for s in settings.SETTINGS if s.reader is not None} - {w for w in _words(text)})
    assert not missing, f"docs/contracts.md does not mention {missing}"


def _words(text: str) -> set[str]:
    import re

    return set(re.findall(r"CASTELLAN_[A-Z0-9_]+", text))
