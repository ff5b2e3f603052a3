"""A participant's offer on a real node (sfu.node.Node with the native engine): Node.handle_offer parses it,
applies its publications and subscriptions (engine tables, ICE credentials, extension ids) and answers.
Malformed offers are an SdpError (the node's `bad_sdp`), nothing else; the answer is well-formed; and what the
offer published is fit for others: a second participant subscribing to it gets a well-formed answer too.
After both leave, every engine index they took is free again (no leak that a stream of bad offers could use to
fill the node).

Input: the offer (UTF-8); a NUL byte separates a second offer (a renegotiation) from the first."""

from __future__ import annotations

from sfu.negotiation.sdp import SdpError
from tests.fuzz._node import FuzzNode, offer
from tests.fuzz._sdp_text import answer_problems, text

NODE = FuzzNode()


def check(data: bytes) -> None:
    node = NODE.node
    subs = NODE.publisher_tracks()
    p = NODE.join("fuzzed")
    try:
        for part in data.split(b"\0", 1):
            try:
                answer = node.handle_offer(p, text(part), subs)
            except SdpError:
                continue
            problems = answer_problems(answer)
            if problems:
                raise AssertionError("answer to the fuzzed offer: " + "; ".join(problems))
        if p.published:
            viewer = NODE.join("viewer")
            try:
                mine = sorted(p.published.items())
                mids = [(str(i), t.kind, "recvonly") for i, (_, t) in enumerate(mine)]
                answer = node.handle_offer(viewer, offer(mids, ufrag="View"), {str(i): t.id for i, (_, t) in
                                                                                 enumerate(mine)})
                problems = answer_problems(answer)
                if problems:
                    raise AssertionError("answer to a subscriber of the fuzzed tracks: " + "; ".join(problems))
            finally:
                node.leave(viewer)
    finally:
        node.leave(p)
        NODE.drain_outboxes()
    if NODE.usage() != NODE.baseline:
        raise AssertionError(f"engine indexes leaked: free (peers, tracks, subs) {NODE.usage()} after, "
                             f"{NODE.baseline} before")


if __name__ == "__main__":
    from tests.fuzz.runner import main

    main("offer")
