"""The fuzzing campaign: every target (or those named) for --inputs inputs each, under `nice -n 19`, starting
from tests/fuzz/corpus/<target>/ and working in build/fuzz/<target>/ (new inputs, crash artifacts, the log).
It prints and writes (build/fuzz/<target>/result.json) per target: inputs run, coverage (atheris `cov:` edges and
`ft:` features), corpus size, time, and any crash with its artifact. --merge adds to the committed corpus the
new inputs that reach coverage it lacks (libFuzzer -merge=1, so it stays small). --asan builds the engine
with AddressSanitizer in build/asan/ (a separate copy; the tree's build is untouched) and runs the targets that
use the engine on it, with atheris's ASan runtime preloaded (PYTHONMALLOC=malloc, so Python's buffers are
checked too).

    python -m tests.fuzz.campaign [--inputs N] [--jobs J] [--max-time S] [--merge] [--asan] [target ...]
    python -m tests.fuzz.campaign --report      # the last runs' figures, as a markdown table
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.fuzz.targets import CORPUS, NATIVE_TARGETS, TARGETS

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "build" / "fuzz"
ASAN = ROOT / "build" / "asan"
ENGINE_TARGETS = (*NATIVE_TARGETS, "offer", "node_ws")
STATUS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/")
DONE = re.compile(r"^Done (\d+) runs in (\d+) second")


@dataclass
class Result:
    target: str
    inputs: int = 0
    seconds: int = 0
    cov: int = 0
    ft: int = 0
    corpus: int = 0
    asan: bool = False
    crash: str = ""        # the artifact file, when the target failed
    detail: str = ""       # the failure, as the target reported it


def python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def build_asan() -> Path:
    """The engine compiled with -fsanitize=address into build/asan/ (sources copied there: native/, setup.py),
    then linked again WITHOUT gcc's libasan: the process gets its ASan runtime from atheris's
    asan_with_fuzzer.so (clang's ASan with libFuzzer), since two ASan runtimes cannot share a process and with
    gcc's libasan preloaded instead, atheris's coverage counters go to libasan and the fuzzer runs blind.
    Returns the directory to put first on PYTHONPATH."""
    built = list((ASAN / "native").glob("engine*.so"))
    sources = [*(f for f in (ROOT / "native").rglob("*") if f.suffix in (".pyx", ".pxi", ".pxd")),
               ROOT / "native" / "constants.py", ROOT / "setup.py"]
    if built and all(s.stat().st_mtime <= built[0].stat().st_mtime for s in sources):
        _link_python(ASAN / "native")
        return ASAN
    if ASAN.exists():
        shutil.rmtree(ASAN)
    shutil.copytree(ROOT / "native", ASAN / "native", ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__"))
    shutil.copy(ROOT / "setup.py", ASAN / "setup.py")
    (ASAN / "build").mkdir()
    os.symlink(ROOT / "build" / "libsrtp", ASAN / "build" / "libsrtp")
    env = dict(os.environ, CFLAGS="-fsanitize=address -fno-omit-frame-pointer -g -O1",
               LDFLAGS="-fsanitize=address")
    subprocess.run(["nice", "-n", "19", python(), "setup.py", "-q", "build_ext", "--inplace"], cwd=ASAN, env=env,
                   check=True)
    (so,) = (ASAN / "native").glob("engine*.so")
    (obj,) = (ASAN / "build").glob("temp*/native/engine.o")
    subprocess.run(["gcc", "-shared", "-o", str(so), str(obj), str(ROOT / "build" / "libsrtp" / "libsrtp2.a"),
                    "-lcrypto"], check=True)
    _link_python(ASAN / "native")
    return ASAN


def _link_python(native: Path) -> None:
    """The build's Python modules (native.reference above all) are the tree's own, not copies that go stale."""
    for src in (ROOT / "native").glob("*.py"):
        dst = native / src.name
        if dst.is_symlink() and dst.resolve() == src.resolve():
            continue
        dst.unlink(missing_ok=True)
        dst.symlink_to(src)


def asan_runtime() -> str:
    import atheris

    path = Path(atheris.path()) / "asan_with_fuzzer.so"
    if not path.exists():
        raise SystemExit(f"{path} not found: the atheris wheel ships it (pip install atheris)")
    return str(path)


def run_target(target: str, inputs: int, max_time: int, asan: bool) -> Result:
    work = WORK / (target + ("-asan" if asan else ""))
    (work / "corpus").mkdir(parents=True, exist_ok=True)
    (work / "artifacts").mkdir(exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    if asan:
        # leaks: CPython's own are noise; ODR: the engine's globals are registered once per runtime flavour
        env.update(PYTHONPATH=f"{build_asan()}:{ROOT}", LD_PRELOAD=asan_runtime(), PYTHONMALLOC="malloc",
                   ASAN_OPTIONS="detect_leaks=0:detect_odr_violation=0:allocator_may_return_null=1:"
                                "quarantine_size_mb=64")
    cmd = ["nice", "-n", "19", python(), "-m", f"tests.fuzz.{target}", f"-runs={inputs}",
           f"-artifact_prefix={work / 'artifacts'}/", "-max_len=8192", "-timeout=30", "-rss_limit_mb=4096",
           "-print_final_stats=1"]
    if max_time:
        cmd.append(f"-max_total_time={max_time}")
    cmd += [str(work / "corpus"), str(CORPUS / target)]
    started = time.monotonic()
    # python -m puts the working directory first on sys.path: under ASan, the build's copy of `native` must win
    with open(work / "log.txt", "w") as log:
        proc = subprocess.run(cmd, cwd=ASAN if asan else ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    text = (work / "log.txt").read_text(errors="replace")
    result = parse_log(target, text, asan)
    result.seconds = round(time.monotonic() - started)
    if proc.returncode != 0:
        result.crash = result.crash or f"exit status {proc.returncode}"
        tail = text[text.find("=== Uncaught Python exception") if "=== Uncaught" in text else -3000:]
        result.detail = tail[:3000]
    return result


def parse_log(target: str, text: str, asan: bool = False) -> Result:
    """A run's figures from its libFuzzer log (the last status line; `Done N runs in S second(s)`)."""
    r = Result(target, asan=asan)
    for line in text.splitlines():
        m = STATUS.match(line)
        if m:
            r.inputs, r.cov, r.ft, r.corpus = (int(x) for x in m.groups())
        d = DONE.match(line)
        if d:
            r.inputs, r.seconds = int(d.group(1)), int(d.group(2))
    crash = re.search(r"Test unit written to (\S+)", text)
    if crash:
        r.crash = crash.group(1)
    return r


def report() -> str:
    """A markdown table of the last run of every target in build/fuzz/ (docs/reliability.md keeps one)."""
    rows = ["| target | inputs | seconds | cov | ft | corpus | result |", "|---|---:|---:|---:|---:|---:|---|"]
    for work in sorted(WORK.iterdir()) if WORK.exists() else []:
        log = work / "log.txt"
        if not log.exists():
            continue
        r = parse_log(work.name, log.read_text(errors="replace"), work.name.endswith("-asan"))
        rows.append(f"| {work.name} | {r.inputs:,} | {r.seconds} | {r.cov} | {r.ft} | {r.corpus} | "
                    f"{'crash' if r.crash else 'clean'} |")
    return "\n".join(rows)


def merge(target: str, asan: bool) -> int:
    """Adds to tests/fuzz/corpus/<target>/ the campaign's inputs that reach coverage it lacks; returns how many."""
    work = WORK / (target + ("-asan" if asan else ""))
    before = len(list((CORPUS / target).iterdir()))
    subprocess.run(["nice", "-n", "19", python(), "-m", f"tests.fuzz.{target}", "-merge=1", "-max_len=8192",
                    str(CORPUS / target), str(work / "corpus")], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    _drop_known(target)
    return len(list((CORPUS / target).iterdir())) - before


def _drop_known(target: str) -> None:
    """The corpus replays clean in CI: an input that reaches a known finding (fuzzed past, tests/fuzz/known.py)
    is dropped; known/<target>/ keeps one input per finding."""
    code = ("import sys; from pathlib import Path; from tests.fuzz.targets import check_function\n"
            "from tests.fuzz.known import known_for\n"
            f"check, known = check_function({target!r}), known_for({target!r})\n"
            "for f in sorted(Path(sys.argv[1]).iterdir()):\n"
            "    try:\n        check(f.read_bytes())\n"
            "    except Exception as e:\n"
            "        if not any(k.matches(e) for k in known):\n            raise\n"
            "        f.unlink()\n")
    subprocess.run([python(), "-c", code, str(CORPUS / target)], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                   check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("targets", nargs="*", help=f"default: all of {', '.join(TARGETS)}")
    ap.add_argument("--inputs", type=int, default=1_000_000, help="inputs per target (libFuzzer -runs)")
    ap.add_argument("--max-time", type=int, default=0, help="seconds per target at most (0: no limit)")
    ap.add_argument("--jobs", type=int, default=1, help="targets fuzzed at once")
    ap.add_argument("--merge", action="store_true", help="add new coverage to tests/fuzz/corpus/")
    ap.add_argument("--asan", action="store_true", help="the engine targets on an AddressSanitizer build")
    ap.add_argument("--report", action="store_true", help="only print the last runs' figures (markdown)")
    args = ap.parse_args(argv)
    if args.report:
        print(report())
        return 0
    targets = args.targets or list(TARGETS)
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        ap.error(f"unknown target(s) {unknown}; known: {', '.join(TARGETS)}")
    if args.asan:
        targets = [t for t in targets if t in ENGINE_TARGETS]
        build_asan()
    WORK.mkdir(parents=True, exist_ok=True)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(lambda t: run_target(t, args.inputs, args.max_time, args.asan), targets))
    print(f"{'target':<14} {'inputs':>10} {'s':>6} {'cov':>6} {'ft':>7} {'corpus':>7}  result")
    for r in results:
        added = merge(r.target, r.asan) if args.merge and not r.crash else 0
        outcome = f"CRASH {r.crash}" if r.crash else "ok" + (f", +{added} to corpus" if added else "")
        print(f"{r.target:<14} {r.inputs:>10} {r.seconds:>6} {r.cov:>6} {r.ft:>7} {r.corpus:>7}  {outcome}")
    for r in results:
        (WORK / (r.target + ("-asan" if r.asan else "")) / "result.json").write_text(json.dumps(asdict(r), indent=2))
    for r in results:
        if r.crash:
            print(f"\n== {r.target}: {r.crash}\n{r.detail}")
    return 1 if any(r.crash for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
