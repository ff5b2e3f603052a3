"""Request-body and parameter specs shared by the handlers and the OpenAPI document."""

from __future__ import annotations

from .linkids import LINK_PATTERN
from .password_policy import MAX_PASSWORD_LEN, MIN_PASSWORD_LEN
from .schema import Bool, Enum, Int, ObjectSpec, Str, StrList, StrMap

TENANT_ID = Str(max_len=63, min_len=1, pattern="[a-z0-9][a-z0-9._-]{0,62}", description="tenant id")
LINK_ID = Str(max_len=43, min_len=43, pattern=LINK_PATTERN, description="signed meeting link id")
KEY_ID = Str(max_len=16, min_len=16, pattern="[0-9a-f]{16}", description="admin key id")
TICKET_ID = Str(max_len=32, min_len=32, pattern="[A-Za-z0-9_-]{32}", description="waiting-room ticket")
REGION_ID = Str(max_len=63, min_len=1, pattern="[a-z0-9][a-z0-9._-]{0,62}", description="region id")
NAME = Str(max_len=64, min_len=1, description="display name")

CREATE_TENANT = ObjectSpec(
    "CreateTenant",
    {"tenant": TENANT_ID, "name": Str(max_len=128, min_len=1),
     "jurisdiction": Str(max_len=16, min_len=2, pattern="[A-Za-z0-9_-]{2,16}", description="e.g. EU, UK, CH, US")},
    required=("tenant", "name", "jurisdiction"),
)
CREATE_ADMIN_KEY = ObjectSpec("CreateAdminKey", {"label": Str(max_len=128)})
CREATE_LINK = ObjectSpec(
    "CreateLink",
    {
        "title": Str(max_len=200, min_len=1),
        "password": Str(max_len=MAX_PASSWORD_LEN, min_len=MIN_PASSWORD_LEN,
                        description=f"at least {MIN_PASSWORD_LEN} characters, not one of the most common passwords; "
                                    "omit to have one generated"),
        "no_password": Bool(description="explicitly create a link without a password"),
        "expires_in": Int(minimum=60, maximum=10 * 365 * 86400, description="seconds until the link expires"),
        "max_participants": Int(minimum=1, maximum=10000),
        "lobby": Bool(description="participants wait until the host admits them"),
    },
    required=("title",),
    description="The E2EE secret is not a field: it lives in the link's #fragment and never reaches a server.",
)
REVOKE_LINK = ObjectSpec("RevokeLink", {"end_meeting": Bool(description="also end the running meeting")})
CLEAR_LOCKOUT = ObjectSpec(
    "ClearLockout", {"scope": Enum(("link", "client", "device", "known")), "key": Str(max_len=128, min_len=1)}, required=("scope", "key")
)
JOIN = ObjectSpec(
    "Join",
    {
        "link": LINK_ID,
        "name": NAME,
        "password": Str(max_len=MAX_PASSWORD_LEN, min_len=1),
        "region_hint": REGION_ID,
        "unreachable_node": Str(max_len=64, min_len=1, pattern="[A-Za-z0-9._-]{1,64}",
                                description="a node the client lost: the control plane checks its health and, if it "
                                            "is dead, re-places the meeting at once instead of waiting for its "
                                            "registration to expire"),
        "host_key": Str(max_len=64, min_len=1, pattern="[A-Za-z0-9_-]{1,64}", description="from a host link"),
    },
    required=("link", "name"),
)
LOBBY_DECISION = ObjectSpec("LobbyDecision", {"decision": Enum(("admit", "deny"))}, required=("decision",))
EMPTY = ObjectSpec("Empty", {})
RECORDER_CREDENTIAL = ObjectSpec(
    "RecorderCredential",
    {"region_hint": REGION_ID},
    required=(),
    description="Where the recorder would rather run (a preference only, as for a join).")
REASON = Str(max_len=500, min_len=1, description="why (recorded in the audit log)")
DEFINE_REGION = ObjectSpec(
    "DefineRegion",
    {"region": REGION_ID,
     "jurisdiction": Str(max_len=16, min_len=2, pattern="[A-Za-z0-9_-]{2,16}", description="e.g. EU, UK, CH, US"),
     "location": Str(max_len=128, min_len=1, description="e.g. Frankfurt, DE"),
     "display_name": Str(max_len=128, min_len=1, description="shown to tenant admins"),
     "reason": REASON},
    required=("region", "jurisdiction", "location", "display_name"),
    description="Idempotent for an identical definition; a different definition of an existing region is 409 "
                "region_exists (define a new region instead).",
)
NODE_KEY_ID = Str(max_len=16, min_len=16, pattern="[0-9a-f]{16}", description="node key id")
ENROLL_NODE_KEY = ObjectSpec(
    "EnrollNodeKey",
    {"region": REGION_ID,
     "public_key": Str(max_len=43, min_len=43, pattern="[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]",
                       description="the node's Ed25519 public key: base64url of the 32 raw bytes, unpadded (as "
                                   "`castellan node-key public` prints)"),
     "reason": REASON},
    required=("region", "public_key"),
)
REVOKE_NODE_KEY = ObjectSpec("RevokeNodeKey", {"reason": REASON}, required=("reason",))
SET_REGIONS = ObjectSpec(
    "SetRegions",
    {"allowed_regions": StrList(REGION_ID),
     "default": Bool(description="back to the default: every region of the tenant's own jurisdiction"),
     "opt_ins": StrMap(REGION_ID, Str(max_len=500, min_len=1),
                       description="region id -> why (adequacy opt-in for a region of another, adequate "
                                   "jurisdiction; recorded with who and when)"),
     "reason": REASON},
    required=("reason",),
    description="Give allowed_regions, or default: true. Validated whole (RULE 1-3, residency/policy.py) and "
                "audited with before/after and the reason; a refused change is audited too.",
)

# verifiable residency (signalling/control/transparency.py, docs/residency.md)
MEETING_ID = Str(max_len=200, min_len=1, pattern="[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}",
                 description="meeting (room) id, as in the link's `room`")
_RID = Str(max_len=200, min_len=1, pattern="[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}")
_COUNT = Int(maximum=2**62)
RECEIPT = ObjectSpec(
    "Receipt",
    {"format": Enum(("castellan-receipt-1",)), "kind": Enum(("interim", "final")), "meeting": _RID,
     "tenant": TENANT_ID, "node": _RID, "key_id": NODE_KEY_ID, "region": REGION_ID,
     "jurisdiction": Str(max_len=16, min_len=1), "first_packet": _COUNT, "last_packet": _COUNT,
     "participants": _COUNT, "packets": _COUNT, "bytes": _COUNT, "relays": StrList(_RID, max_items=64),
     "seq": _COUNT, "issued_at": _COUNT,
     "signature": Str(max_len=100, min_len=1, pattern="[A-Za-z0-9_-]+",
                      description="base64url Ed25519 signature by the node's enrolled key (residency/receipts.py)")},
    required=("format", "kind", "meeting", "tenant", "node", "key_id", "region", "jurisdiction", "first_packet",
              "last_packet", "participants", "packets", "bytes", "relays", "seq", "issued_at", "signature"),
    description="a node's signed receipt for a meeting it carried")
SET_WEBHOOK = ObjectSpec(
    "SetHeadWebhook",
    {"url": Str(max_len=2000, description="https:// URL (http:// only to loopback) the new signed heads are "
                                          "POSTed to; empty to remove")},
    required=("url",))

# compliance recordings (signalling/control/recordings.py, docs/recording.md)
RECORDING_ID = Str(max_len=20, min_len=20, pattern="rec-[0-9a-f]{16}", description="recording id")
HOLD_ID = Str(max_len=17, min_len=17, pattern="hold-[0-9a-f]{12}", description="legal hold id")
RECORDING_FILE = Str(max_len=128, min_len=1, pattern="[A-Za-z0-9][A-Za-z0-9_-]*(\\.[A-Za-z0-9_-]+)*",
                     description="a recording's file name, as listed (no path, no '..')")
PLAY_TICKET = Str(max_len=80, min_len=80, pattern="[A-Za-z0-9_-]{80}",
                  description="a play ticket (POST …/files/{file}/play): one file, one tenant, minutes")
PARTICIPANT_ID = Str(max_len=96, min_len=1, pattern="[A-Za-z0-9_.:-]{1,96}",
                     description="a participant id, as a recording lists it")
RECORDING_POLICY = Enum(("off", "allowed", "required"))
SET_RECORDING_POLICY = ObjectSpec(
    "SetRecordingPolicy",
    {"policy": RECORDING_POLICY,
     "retention_days": Int(maximum=36500, description="days from a recording's end until retention deletes it "
                                                      "(unless a hold keeps it); 0: keep until an admin deletes")},
    required=("policy",),
    description="The tenant's recording policy (off / allowed: a host starts and stops / required) and retention; "
                "audited (recording.policy_set).")
SET_LINK_RECORDING_POLICY = ObjectSpec(
    "SetLinkRecordingPolicy", {"policy": RECORDING_POLICY}, required=("policy",),
    description="A link may only tighten its tenant's policy: under allowed it may say off or required; under off "
                "or required anything else is refused (422 link_cannot_loosen).")
PLACE_HOLD = ObjectSpec(
    "PlaceHold",
    {"scope": Enum(("meeting", "link", "participant", "tenant")),
     "target": Str(max_len=200, pattern="[A-Za-z0-9_.:-]{0,200}",
                   description="the meeting, link or participant id the hold covers (ignored for tenant)"),
     "reason": REASON},
    required=("scope", "reason"),
    description="A legal hold blocks every deletion of what it covers (admin, retention, GDPR erasure) until it is "
                "released; audited (recording.hold_placed).")

# recorder pools (docs/recording.md, "Launching recorders")
POOL_ID = Str(max_len=63, min_len=1, pattern="[a-z0-9][a-z0-9._-]{0,62}", description="recorder pool id")
JOB_ID = Str(max_len=16, min_len=16, pattern="job-[A-Za-z0-9_-]{12}", description="recorder job id")
CREATE_POOL_KEY = ObjectSpec(
    "CreateRecorderPoolKey", {"region": REGION_ID, "label": Str(max_len=128)}, required=("region",),
    description="A key for one region's recorder pool: it announces the pool and obtains the recorder credentials "
                "of that pool's jobs, nothing else.")
ANNOUNCE_POOL = ObjectSpec(
    "AnnounceRecorderPool",
    {"capacity": Int(minimum=0, maximum=1000, description="recorders this pool may run at once"),
     "running": StrList(JOB_ID, max_items=1000)},
    required=("capacity", "running"),
    description="The pool lives (for 6 s): its region is its key's. The answer lists its jobs and those of "
                "`running` to stop.")
