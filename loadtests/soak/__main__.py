"""`python -m loadtests.soak [--minutes 60]`: the soak (see loadtests/soak/__init__.py). Exit status 0 when every
check held, 1 otherwise. Loopback only; every process it starts is stopped at the end."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import tempfile
import time
from pathlib import Path

from loadtests.soak import report
from loadtests.soak.scenario import Config, run


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m loadtests.soak", description=__doc__)
    ap.add_argument("--minutes", type=float, default=60.0, help="how long the meeting lasts (default 60)")
    ap.add_argument("--sample", type=float, default=None,
                    help="seconds between samples (default 60; 10 for runs of 5 minutes or less)")
    ap.add_argument("--participants", type=int, default=10)
    ap.add_argument("--publishers", type=int, default=2)
    ap.add_argument("--loss", type=float, default=0.03, help="share of incoming RTP one subscriber drops (0.03)")
    ap.add_argument("--no-audio", action="store_true", help="publish video only")
    ap.add_argument("--churn-every", type=float, default=None, help="seconds between churn events")
    ap.add_argument("--warmup", type=float, default=None, help="seconds left out of the slopes (default 10 %%)")
    ap.add_argument("--workdir", type=Path, default=None, help="logs and databases (default: a new temp dir)")
    ap.add_argument("--markdown", type=Path, default=None, help="also write the figures as markdown here")
    return ap.parse_args(argv)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    seconds = args.minutes * 60
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="castellan-soak-"))
    # the bots' ICE and DTLS (aioice, aiortc) and the bots' own log at INFO, timestamped, in the workdir: when a
    # bot's connection ends on its own, whether its consent checks went unanswered and since when
    workdir.mkdir(parents=True, exist_ok=True)
    bots_log = logging.FileHandler(workdir / "bots-transport.log")
    bots_log.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    bots_log.setLevel(logging.INFO)
    for name in ("aioice", "aiortc"):
        logging.getLogger(name).setLevel(logging.INFO)
        logging.getLogger(name).addHandler(bots_log)
        logging.getLogger(name).propagate = False
    bot = logging.getLogger("castellan.bot")  # its consent expiry is INFO; its warnings still reach stderr
    bot.setLevel(logging.INFO)
    bot.addHandler(bots_log)
    bot.propagate = False
    stderr = logging.StreamHandler()
    stderr.setLevel(logging.WARNING)
    stderr.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    bot.addHandler(stderr)
    config = Config(seconds=seconds, sample=args.sample or (10.0 if seconds <= 300 else 60.0),
                    participants=args.participants, publishers=args.publishers, loss=args.loss,
                    audio=not args.no_audio, churn_every=args.churn_every, warmup=args.warmup, workdir=workdir)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    # SIGTERM (and SIGINT, which a shell may have set to "ignore" for a background job) end the run cleanly:
    # the processes it started are stopped by run()'s cleanup
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _interrupt)
    result = run(config, out=lambda line: print(line, flush=True))
    print(report.table(result), flush=True)
    if args.markdown is not None:
        args.markdown.write_text(f"Started {started}.\n\n{report.markdown(result)}\n")
    return 0 if not result.failures() else 1


if __name__ == "__main__":
    raise SystemExit(main())
