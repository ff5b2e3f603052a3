"""Coverage-guided fuzzing (atheris) of every parser that takes bytes or text from outside the node.

One module per target, each with `check(data: bytes) -> None` (returns on a correct answer or a clean refusal,
raises on a crash, a disagreement or an uncaught exception) and an atheris entry point:
`python -m tests.fuzz.<target> [libFuzzer flags] [corpus dirs]`. `tests/fuzz/corpus/<target>/` holds the
minimised seeds and every input the campaign found interesting; `test_replay.py` replays them all in CI.
The campaign: `python -m tests.fuzz.campaign --help` (docs/reliability.md, "Fuzzing").
"""
