"""Which recorders are in a cascaded meeting's MLS group, on the home's word (issue 15 across a cascade; docs/
recording.md "A cascaded meeting's recorder and the `required` hold"). Pure: the home's `recorders` message, its
check on the receiving side, and whose word a node goes by.

Why the home's word: a `required` meeting holds its media until the recorder is in the group (it holds the keys,
so the recording misses nothing). Only the home's Delivery Service orders the group, so only it can tell: a far
node's witness (sfu/cascade/witness.py) sees the commits but parses no MLS — it learns who committed and which of
its own participants were welcomed, never who a commit added elsewhere or removed — so it cannot say when a
recorder of another node is in, nor when one is out again. The home sends each far node, on the meeting's
handshake lane (sealed with the link's keys, its own sequence: nothing reorders, replays or forges it on the
path), the set of recorders it counts — marked on their verified credential, attached, in the group at `epoch` —
whenever that set changes, the whole set each time (`[]`: none any more).

What a node makes of it: on a far node a recorder counts only if it is marked there on its own verified
credential (sfu/cascade/roles.py), attached or carried by its node, *and* in the home's last set: a verdict that
names anyone else marks nobody. Until the home said anything on the lane up now — the placement not known yet, a
lane not up, one that closed — the set is empty: held (fail closed). A `recorders` from a node that is not the
meeting's home is refused (a far node cannot release the hold on the home, and far nodes share no lane: the
star). What the home's word is worth: the home orders the group, so a lying home could stall it anyway; it can
release a far node early only for a recorder the control plane credentialed for this meeting.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from residency.errors import RelayRefused
from sfu.e2ee.messages import MAX_EPOCH, MAX_ID

MAX_RECORDERS = 64  # a meeting has a recorder or two (a replacement overlapping the one it replaces)


def verdict(recorders: Collection[str], epoch: int | None) -> dict[str, Any]:
    """The home's `recorders` message: the recorders it counts in the group it orders, at `epoch`."""
    return {"type": "recorders", "in": sorted(recorders), "epoch": epoch}


def heard(msg: dict[str, Any]) -> tuple[frozenset[str], int | None]:
    """The recorders a home's `recorders` message names, and its epoch; RelayRefused if it is malformed."""
    ids, epoch = msg.get("in"), msg.get("epoch")
    if (not isinstance(ids, list) or len(ids) > MAX_RECORDERS
            or not all(isinstance(x, str) and 0 < len(x) <= MAX_ID for x in ids)
            or not (epoch is None or (isinstance(epoch, int) and not isinstance(epoch, bool)
                                      and 0 <= epoch < MAX_EPOCH))):
        raise RelayRefused("relay_message_malformed", "recorders: participant ids and an epoch")
    return frozenset(ids), epoch


def view(me: str, placed: bool, home: str | None, said: frozenset[str] | None) -> frozenset[str] | None:
    """Whose word says which recorders are in the meeting's group here (sfu/recording.py `recorders`): None — this
    node's own Delivery Service (it is the home, or the meeting has no placement: on this node only); else what
    the home `said` on the lane up now (`placed`: the placement is known), empty before it said anything."""
    if placed and (home is None or home == me):
        return None
    return said if placed and said is not None else frozenset()
