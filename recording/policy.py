"""Recording policy per tenant and per link: off / allowed (the host starts and stops) / required (no media before
the recorder is in). Pure.

A link may tighten its tenant's policy, never loosen it: a tenant that requires recording records every meeting,
a tenant that has recording off records none, whatever a link says.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RecordingPolicy(StrEnum):
    OFF = "off"
    ALLOWED = "allowed"
    REQUIRED = "required"

    @classmethod
    def parse(cls, value: object) -> RecordingPolicy:
        """A clear error for anything but the three words (settings, API bodies, CLI flags)."""
        if isinstance(value, str):
            for p in cls:
                if p.value == value:
                    return p
        raise ValueError(f"recording policy must be one of off, allowed, required; got {value!r}")


def effective(tenant: RecordingPolicy, link: RecordingPolicy | None) -> RecordingPolicy:
    """The policy a meeting runs under: the tenant's, tightened (only) by its link's."""
    if tenant is not RecordingPolicy.ALLOWED or link is None:
        return tenant  # off stays off, required stays required
    return link  # under "allowed" a link may switch recording off or require it


@dataclass(frozen=True)
class Notice:
    """What a participant is told before joining (join page) and during the meeting (the indicator)."""

    policy: RecordingPolicy
    recording: bool
    text: str


def notice(policy: RecordingPolicy, recording: bool, recorder_name: str | None = None) -> Notice:
    who = f" by {recorder_name}" if recorder_name else ""
    if policy is RecordingPolicy.REQUIRED:
        text = f"This meeting is recorded{who} for compliance. Media starts only once the recorder has joined."
    elif recording:
        text = f"This meeting is being recorded{who}."
    elif policy is RecordingPolicy.ALLOWED:
        text = "The host may record this meeting; you will see a red indicator while it is recorded."
    else:
        text = ""
    return Notice(policy=policy, recording=recording or policy is RecordingPolicy.REQUIRED, text=text)


def media_may_start(policy: RecordingPolicy, recorder_is_member: bool) -> bool:
    """Under `required`, media waits for the recorder to be a member of the E2EE group."""
    return policy is not RecordingPolicy.REQUIRED or recorder_is_member


def may_start_or_stop(policy: RecordingPolicy, is_host: bool) -> bool:
    """Only a host, only under `allowed` (off: never; required: it runs for the whole meeting)."""
    return policy is RecordingPolicy.ALLOWED and is_host
