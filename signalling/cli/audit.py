"""`castellan audit ...`: `fetch` (the tenant's side of the transparency log, here) and the offline tools of
`residency/cli.py` (verify, export, public-key), to which every other subcommand goes.

    castellan audit fetch --api URL --key KEY --tenant T --heads heads.jsonl [--log-key log-key.pem]
        [--node-keys node-keys.json] [--meeting M --out evidence.json]

Keeps every signed head it has seen in --heads, and adds a new one only with a consistency proof from the
last one it holds: exit 3 and an ALERT on stderr when the log is not an extension of what it saw before
(records removed, changed or reordered, or a forked log). The log's public key and the node keys are pinned on
first use (saved to --log-key / --node-keys) and compared on every later fetch: a node key that moved to
another region, or a region that changed jurisdiction, is an ALERT too.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ALERT = 3


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="castellan audit fetch",
                                description="fetch the tenant's signed log head (and a meeting's evidence), "
                                            "checked against the heads you hold")
    p.add_argument("--api", required=True, help="the control plane's URL")
    p.add_argument("--key", required=True, help="the tenant's admin API key")
    p.add_argument("--tenant", required=True)
    p.add_argument("--heads", required=True, help="the JSON Lines file of heads you hold (created if missing)")
    p.add_argument("--log-key", help="the log's public key you pinned (default: <heads>.log-key.pem; fetched "
                                     "and saved on first use)")
    p.add_argument("--node-keys", help="the node keys and regions you pinned (default: <heads>.node-keys.json)")
    p.add_argument("--meeting", help="also fetch this meeting's evidence (for `castellan residency verify`)")
    p.add_argument("--out", help="where the evidence goes (default: <meeting>.evidence.json)")
    return p


def _get(api: str, key: str, path: str) -> bytes:
    req = urllib.request.Request(api.rstrip("/") + path, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - the tenant's own control plane URL
            return bytes(r.read())
    except urllib.error.HTTPError as e:
        raise SystemExit(f"castellan: {path}: HTTP {e.code} {e.read()[:300].decode(errors='replace')}") from None
    except OSError as e:
        raise SystemExit(f"castellan: control plane unreachable: {e}") from None


def _pin_node_keys(path: Path, fetched: dict[str, Any]) -> list[str]:
    """Merge the fetched node keys into the pinned ones; the alerts (a key or region that changed meaning)."""
    pinned: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {"regions": [], "keys": []}
    alerts: list[str] = []
    regions = {r["id"]: r for r in pinned["regions"]}
    for r in fetched.get("regions", []):
        old = regions.get(r["id"])
        if old is not None and old["jurisdiction"] != r["jurisdiction"]:
            alerts.append(f"region {r['id']} was {old['jurisdiction']}, the control plane now says {r['jurisdiction']}")
        elif old is None:
            regions[r["id"]] = r
    keys = {k["key_id"]: k for k in pinned["keys"]}  # revoked keys stay: receipts made before stay valid
    for k in fetched.get("keys", []):
        old = keys.get(k["key_id"])
        if old is not None and old["region"] != k["region"]:
            alerts.append(f"node key {k['key_id']} was enrolled for {old['region']}, the control plane now says "
                          f"{k['region']}")
        elif old is None:
            keys[k["key_id"]] = k
    if not alerts:
        path.write_text(json.dumps({"regions": list(regions.values()), "keys": list(keys.values())}, indent=1,
                                   sort_keys=True))
    return alerts


def fetch(argv: Sequence[str]) -> int:
    from residency.heads import HeadRejected, HeldHeads, parse_head, proof_from_hex
    from residency.signing import key_id, load_public_keys, parse_public_keys

    args = _parser().parse_args(argv)
    heads_path = Path(args.heads)
    key_path = Path(args.log_key or f"{heads_path}.log-key.pem")
    if not key_path.exists():
        pem = _get(args.api, args.key, "/v1/transparency/log-key").decode()
        keys = parse_public_keys(pem)
        key_path.write_text(pem)
        print(f"pinned the log key {key_id(keys[0])} in {key_path} (first use: compare it with the key your "
              "operator gave you out of band)")
    keys = load_public_keys(key_path)
    try:
        held = HeldHeads(heads_path, keys)
        head = parse_head(json.loads(_get(args.api, args.key, f"/v1/tenants/{args.tenant}/transparency/head")),
                          keys)
        last = held.latest()
        proof: list[bytes] = []
        if last is not None and head.tree_size < last.tree_size:  # an append-only log never shrinks
            raise HeadRejected("log_inconsistent", f"you hold a head of {last.tree_size} records (signed "
                                                   f"{last.timestamp}); the log now signs {head.tree_size} "
                                                   f"({head.timestamp}): records were removed and the log re-signed")
        if last is not None and last.tree_size != head.tree_size:
            try:
                doc = json.loads(_get(args.api, args.key, f"/v1/tenants/{args.tenant}/transparency/consistency"
                                                          f"?first={last.tree_size}&second={head.tree_size}"))
            except SystemExit as e:
                raise HeadRejected("log_inconsistent", f"the control plane gives no consistency proof from your "
                                                       f"head of {last.tree_size} records: {e}") from None
            proof = proof_from_hex(doc.get("proof"))
        added = held.accept(head, proof)
    except HeadRejected as e:
        print(f"ALERT: {e.code}: {e.message}", file=sys.stderr)
        return ALERT
    print(f"head of {head.log}: {head.tree_size} records, signed {head.timestamp}"
          + (f", consistent with the {len(held.heads) - 1} head(s) held before" if last else ", the first you hold")
          + ("" if added else " (already held)"))
    nk_path = Path(args.node_keys or f"{heads_path}.node-keys.json")
    alerts = _pin_node_keys(nk_path, json.loads(_get(args.api, args.key, "/v1/transparency/node-keys")))
    for a in alerts:
        print(f"ALERT: node_keys_changed: {a}", file=sys.stderr)
    if alerts:
        return ALERT
    if args.meeting:
        out = Path(args.out or f"{args.meeting}.evidence.json")
        size = max(h.tree_size for h in held.heads)
        out.write_bytes(_get(args.api, args.key, f"/v1/tenants/{args.tenant}/meetings/{args.meeting}/evidence"
                                                 f"?held={size}"))
        print(f"evidence of meeting {args.meeting} in {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "fetch":
        return fetch(argv[1:])
    from residency.cli import main as offline

    return offline(argv)
