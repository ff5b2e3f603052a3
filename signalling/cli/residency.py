"""`castellan residency verify MEETING`: the tenant's offline check of where a meeting was processed
(residency/verify.py), from the evidence, the heads it holds and the keys it pinned (`castellan audit fetch`).

Exit 0: verified and inside the tenant's policy; 1: verification failed (tampering, a missing receipt, a node
key not enrolled for its region: the reason is printed); 2: verified, but a node was outside the policy.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from .options import failed


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="castellan residency", description="verify where a meeting was processed")
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="check one meeting offline")
    v.add_argument("meeting")
    v.add_argument("--evidence", help="from `castellan audit fetch --meeting` (default: <meeting>.evidence.json)")
    v.add_argument("--heads", required=True, help="the heads you hold")
    v.add_argument("--log-key", help="the log key you pinned (default: <heads>.log-key.pem)")
    v.add_argument("--node-keys", help="the node keys you pinned (default: <heads>.node-keys.json)")
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from residency.errors import ResidencyError
    from residency.heads import HeldHeads
    from residency.signing import load_public_keys
    from residency.verify import PinnedKeys, render, verify_meeting

    args = _parser().parse_args(argv)
    try:
        keys = load_public_keys(args.log_key or f"{args.heads}.log-key.pem")
        held = HeldHeads(args.heads, keys)
        pinned = PinnedKeys.from_dict(json.loads(Path(args.node_keys or f"{args.heads}.node-keys.json").read_text()))
        evidence = json.loads(Path(args.evidence or f"{args.meeting}.evidence.json").read_text())
        report = verify_meeting(evidence, args.meeting, held.heads, keys, pinned)
    except ResidencyError as e:
        return failed(f"FAILED: {e.code}: {e.message}")
    except (OSError, ValueError) as e:
        return failed(f"FAILED: unreadable: {e}")
    print(json.dumps(report.to_dict(), indent=1) if args.json else render(report))
    # 0 inside; 4 inside but for a node that stopped within the published bound after a narrowing; 2 outside
    return {"inside": 0, "within_bound": 4}.get(report.standing, 2)
