"""Host controls: what the holder of a host link (a join token with `host: true`) may do to a meeting on this
node — lock it, ask a participant to mute, remove a participant, end it for everyone, start and stop recording
where the meeting's signed policy is `allowed` (docs/protocol.md, "Host controls"). Each action is written to the audit log before it takes effect: an action the log cannot take is
refused (fail closed), never done unrecorded.

The node can only ask for a mute: media is end-to-end encrypted, so it cannot silence a track, and it never asks
anyone to unmute. A removal is the node's `leave`; the remaining members' MLS clients then commit the leaver's
removal (the existing path: `participant_left` → a remove proposal), so the removed person holds no later key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recording.policy import may_start_or_stop
from residency.enforcement import AuditSink
from sfu.recording import describe as recording_state
from sfu.recording import set_started

if TYPE_CHECKING:
    from sfu.participant import Participant

log = logging.getLogger("castellan.host")

ACTIONS = ("lock", "unlock", "mute", "remove", "end", "record_start", "record_stop")
RECORDING = ("record_start", "record_stop")  # under "allowed" only (recording/policy.py may_start_or_stop)
TARGETED = ("mute", "remove")
REMOVED = "removed_by_host"
ENDED = "ended_by_host"


class HostError(Exception):
    """A refused host message; `code` is the signalling error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class HostAction:
    action: str
    target: str | None = None


def parse(msg: dict[str, Any]) -> HostAction:
    """`{"type": "host", "action", "participant"?}` → HostAction, or HostError("bad_message")."""
    action = msg.get("action")
    if action not in ACTIONS:
        raise HostError("bad_message", f"host 'action' must be one of {', '.join(ACTIONS)}")
    target = msg.get("participant")
    if action in TARGETED:
        if not isinstance(target, str) or not 0 < len(target) <= 128:
            raise HostError("bad_message", f"host {action} needs a 'participant' id string")
        return HostAction(action, target)
    return HostAction(action)


class HostControls:
    """Carries out host actions. `leave` and `end_room` are the node's own (sfu/node.py); `audit` is the node's
    audit log (None: a test node without one — the action is logged only)."""

    def __init__(self, leave: Callable[[Participant, str], None], audit: AuditSink | None) -> None:
        self.leave = leave
        self.audit = audit
        self.done: dict[str, int] = dict.fromkeys(ACTIONS, 0)  # carried out, by action (metrics, tests)

    def act(self, host: Participant, a: HostAction) -> None:
        if not host.host:
            raise HostError("forbidden", "only the holder of the meeting's host link may do this")
        room = host.room
        target = room.participants.get(a.target) if a.target is not None else None
        if a.target is not None and (target is None or target.left):
            raise HostError("unknown_participant", "no such participant in this meeting")
        if target is host:
            raise HostError("bad_message", f"a host cannot {a.action} themselves (use leave or mute)")
        if a.action in RECORDING and not may_start_or_stop(room.recording.policy, host.host):
            raise HostError("recording_not_allowed", f"recording is {room.recording.policy.value} for this meeting: "
                            "a host starts and stops it only where it is allowed")
        self._record(host, a, target)
        self.done[a.action] += 1
        if a.action in ("lock", "unlock"):
            room.locked = a.action == "lock"
            room.broadcast({"type": "meeting_locked", "locked": room.locked, "by": host.id})
        elif a.action == "mute" and target is not None:
            # a request only: the client mutes its own microphone and tells the others as usual
            target.send({"type": "host_request", "action": "mute", "from": host.id})
        elif a.action == "remove" and target is not None:
            self.leave(target, REMOVED)
        elif a.action in RECORDING:
            set_started(room, a.action == "record_start")
            room.broadcast({"type": "recording", **recording_state(room), "by": host.id})
        elif a.action == "end":
            for p in list(room.participants.values()):
                self.leave(p, ENDED)

    def _record(self, host: Participant, a: HostAction, target: Participant | None) -> None:
        room = host.room
        data: dict[str, Any] = {"room": room.name, "action": a.action}
        if target is not None:
            data["participant"] = target.id
            data["name"] = target.name
        log.info("host action room=%s/%s host=%s action=%s target=%s", room.tenant, room.name, host.id, a.action,
                 a.target, extra={"tenant": room.tenant, "room": room.name, "participant": host.id})
        if self.audit is None:
            return
        try:
            self.audit.append(f"host.{a.action}", actor=f"host:{host.id}", tenant=room.tenant, data=data)
        except Exception:  # noqa: BLE001 - any failure of the log refuses the action (nothing unrecorded)
            log.exception("audit log refused host action %s", a.action)
            raise HostError("audit_unavailable", "the node could not record this action; it was not done") from None
