"""The control plane's endpoint table (one declaration per endpoint: handler, inputs, auth, responses)."""

from __future__ import annotations

from . import handlers as h
from . import recorder_pool_handlers as ph
from . import recording_handlers as rh
from . import specs as s
from . import transparency_handlers as th
from .jsontypes import JSONObject
from .routing import Endpoint
from .schema import Int


def _object(required: list[str], properties: JSONObject) -> JSONObject:
    return {"type": "object", "required": required, "properties": properties}


OBJ: JSONObject = {"type": "object"}
# required fields and properties kept apart too, for the schemas that extend them
LINK_PUBLIC_REQUIRED = ["link", "tenant", "title", "room", "password_required", "lobby", "revoked"]
LINK_PUBLIC_PROPERTIES: JSONObject = {
    "link": {"type": "string"}, "tenant": {"type": "string"}, "title": {"type": "string"},
    "room": {"type": "string"}, "password_required": {"type": "boolean"},
    "expires_at": {"type": ["number", "null"]}, "max_participants": {"type": ["integer", "null"]},
    "lobby": {"type": "boolean"}, "created": {"type": "number"}, "created_by": {"type": "string"},
    "revoked": {"type": "boolean"},
}
LINK_PUBLIC = _object(LINK_PUBLIC_REQUIRED, LINK_PUBLIC_PROPERTIES)
CREATED_LINK = _object(
    [*LINK_PUBLIC_REQUIRED, "url", "host_key", "warnings"],
    {**LINK_PUBLIC_PROPERTIES, "url": {"type": "string"}, "host_key": {"type": "string"},
     "warnings": {"type": "array", "items": {"type": "object"},
                  "description": "no region / no node serves the tenant: joins will be refused (tenancy.py)"},
     "password": {"type": "string", "description": "present only when generated; shown once"}},
)
ADMIN_KEY_REQUIRED = ["key_id", "tenant", "label", "created", "revoked"]
ADMIN_KEY_PROPERTIES: JSONObject = {
    "key_id": {"type": "string"}, "tenant": {"type": "string"}, "label": {"type": "string"},
    "created": {"type": "number"}, "revoked": {"type": "boolean"},
}
ADMIN_KEY = _object(ADMIN_KEY_REQUIRED, ADMIN_KEY_PROPERTIES)
LOCKOUT: JSONObject = {
    "type": "object", "required": ["scope", "key", "tenant", "locked", "strikes", "retry_after", "effect"],
    "properties": {"scope": {"type": "string", "enum": ["link", "client", "device", "known"]},
                   "key": {"type": "string", "description": "link, address, device id, or 'link address'"},
                   "tenant": {"type": "string"}, "locked": {"type": "boolean"}, "strikes": {"type": "integer"},
                   "retry_after": {"type": "integer"}, "recent_failures": {"type": "integer"},
                   "effect": {"type": "string", "enum": ["block", "slowdown"],
                              "description": "a guesser is blocked; a link under guessing only slows unknown "
                                             "guessers, never refuses a correct password"},
                   "delay": {"type": "number", "description": "a link's added seconds per unknown guesser's check"},
                   "ref": {"type": "string", "description": "the pseudonym the audit log uses for this key"}},
}
JOINED_REQUIRED = ["status", "token", "ws_url", "node", "room", "participant", "host", "expires_in", "processing"]
JOINED_PROPERTIES: JSONObject = {
    "status": {"type": "string", "enum": ["joined"]},
    "token": {"type": "string", "description": "EdDSA JWT (kid), aud = node; single use; gates joining only"},
    "ws_url": {"type": "string"}, "node": {"type": "string"}, "room": {"type": "string"},
    "participant": {"type": "string"}, "host": {"type": "boolean"}, "expires_in": {"type": "integer"},
    "processing": {
        "type": "object", "required": ["region", "location", "jurisdiction", "policy"],
        "properties": {"region": {"type": "string"}, "location": {"type": "string"},
                       "jurisdiction": {"type": "string"}, "policy": {"type": "string"}},
    },
}
JOINED = _object(JOINED_REQUIRED, JOINED_PROPERTIES)
# a recorder's credential (docs/recording.md): the join answer, plus its name, role and the meeting's policy
RECORDER_JOINED = _object(
    [*JOINED_REQUIRED, "name", "role", "policy"],
    {**JOINED_PROPERTIES, "name": {"type": "string"}, "role": {"type": "string", "enum": ["recorder"]},
     "policy": {"type": "string", "enum": ["allowed", "required"]}},
)
WAITING: JSONObject = {
    "type": "object", "required": ["status", "ticket"],
    "properties": {"status": {"type": "string", "enum": ["waiting"]}, "ticket": {"type": "string"},
                   "poll": {"type": "string"}, "participant": {"type": "string"}},
}
TICKET: JSONObject = {
    "type": "object", "required": ["ticket", "name", "participant", "state"],
    "properties": {"ticket": {"type": "string"}, "name": {"type": "string"}, "participant": {"type": "string"},
                   "state": {"type": "string"}, "waiting_since": {"type": "number"}},
}
JWKS: JSONObject = {
    "type": "object", "required": ["keys"],
    "properties": {"keys": {"type": "array", "items": {
        "type": "object", "required": ["kty", "crv", "x", "kid", "alg"],
        "properties": {"kty": {"const": "OKP"}, "crv": {"const": "Ed25519"}, "x": {"type": "string"},
                       "kid": {"type": "string"}, "alg": {"const": "EdDSA"}, "use": {"const": "sig"}}}}},
}

QMAX = 999_999  # the router takes query integers of at most 6 digits
HEAD: JSONObject = {
    "type": "object", "required": ["head", "signature"],
    "properties": {"signature": {"type": "string"}, "head": {
        "type": "object", "required": ["format", "log", "tree_size", "root_hash", "timestamp", "key_id"],
        "properties": {"format": {"const": "castellan-sth-1"}, "log": {"type": "string"},
                       "tree_size": {"type": "integer"}, "root_hash": {"type": "string"},
                       "timestamp": {"type": "string"}, "key_id": {"type": "string"}}}},
}
RESIDENCY_SUMMARY: JSONObject = {
    "type": "object", "required": ["tenant", "meeting", "verified"],
    "properties": {"tenant": {"type": "string"}, "meeting": {"type": "string"}, "verified": {"type": "boolean"},
                   "inside_policy": {"type": "boolean"},
                   "standing": {"enum": ["inside", "within_bound", "outside"],
                                "description": "within_bound: a node stopped within the published bound "
                                               "(policy_bound s) after the policy narrowed mid-meeting"},
                   "policy_bound": {"type": "number"},
                   "regions": {"type": "array", "items": {"type": "string"},
                               "description": "display name (location) of each region that carried it"},
                   "text": {"type": "string", "description": "This meeting was processed in: ... - verified"},
                   "nodes": {"type": "array", "items": {"type": "object"}},
                   "error": {"type": "object", "description": "why it does not verify (code, message)"}},
}


WARNING = _object(["code", "message"], {"code": {"type": "string", "enum": ["no_region", "no_node",
                                                                          "region_without_node"]},
                                         "message": {"type": "string"}})
OPT_IN = _object(["region", "reason", "actor", "at"], {"region": {"type": "string"}, "reason": {"type": "string"},
                                                       "actor": {"type": "string"}, "at": {"type": "number"}})
TENANT_REQUIRED = ["tenant", "name", "jurisdiction", "allowed_regions", "opt_ins", "version"]
TENANT_PROPERTIES: JSONObject = {
    "tenant": {"type": "string"}, "name": {"type": "string"}, "jurisdiction": {"type": "string"},
    "allowed_regions": {"type": ["array", "null"], "items": {"type": "string"},
                        "description": "null: the default, every region of the tenant's own jurisdiction"},
    "opt_ins": {"type": "array", "items": OPT_IN}, "version": {"type": "integer"},
}
TENANT = _object(TENANT_REQUIRED, TENANT_PROPERTIES)
REGION_STATUS = _object(
    ["region", "display_name", "location", "jurisdiction", "rule", "allowed", "why", "nodes", "opt_in"],
    {"region": {"type": "string"}, "display_name": {"type": "string"}, "location": {"type": "string"},
     "jurisdiction": {"type": "string"},
     "rule": {"type": "string", "enum": ["own", "adequate", "refused"],
              "description": "own: RULE 1; adequate: RULE 2 (needs an opt-in); refused: RULE 3 (never)"},
     "allowed": {"type": "boolean"}, "why": {"type": ["string", "null"]},
     "nodes": {"type": "integer", "description": "usable media nodes registered in the region now"},
     "opt_in": {"type": ["object", "null"]}},
)
TENANT_DOCUMENT = _object(
    [*TENANT_REQUIRED, "jurisdiction_name", "regions", "effective_regions", "warnings"],
    {**TENANT_PROPERTIES, "jurisdiction_name": {"type": "string"},
     "regions": {"type": "array", "items": REGION_STATUS},
     "effective_regions": {"type": "array", "items": {"type": "string"}},
     "warnings": {"type": "array", "items": WARNING}},
)
MEETING = _object(
    ["link", "title", "room", "revoked", "participants", "node", "region", "since", "why", "location",
     "display_name", "jurisdiction"],
    {"link": {"type": "string"}, "title": {"type": "string"}, "room": {"type": "string"},
     "revoked": {"type": "boolean"}, "participants": {"type": "integer"}, "node": {"type": "string"},
     "region": {"type": "string"}, "since": {"type": "number"}, "why": {"type": "string"},
     "location": {"type": "string"}, "display_name": {"type": "string"}, "jurisdiction": {"type": "string"}},
)


POOL_KEY_REQUIRED = ["key_id", "region", "label", "created", "revoked"]
POOL_KEY_PROPERTIES: JSONObject = {
    "key_id": {"type": "string"}, "region": {"type": "string"}, "label": {"type": "string"},
    "created": {"type": "number"}, "revoked": {"type": "boolean"},
}
POOL_KEY = _object(POOL_KEY_REQUIRED, POOL_KEY_PROPERTIES)
RECORDER_JOB = _object(
    ["id", "tenant", "room", "link", "node", "region", "pool", "policy", "state", "generation"],
    {"id": {"type": "string"}, "tenant": {"type": "string"}, "room": {"type": "string"}, "link": {"type": "string"},
     "node": {"type": "string"}, "region": {"type": "string"}, "pool": {"type": "string"},
     "policy": {"type": "string"}, "state": {"type": "string", "enum": ["launch"]},
     "generation": {"type": "integer"}})
ANNOUNCED = _object(["pool", "region", "jobs", "dismissed"], {
    "pool": {"type": "string"}, "region": {"type": "string"}, "jobs": {"type": "array", "items": RECORDER_JOB},
    "dismissed": {"type": "array", "items": {"type": "string"}}})


def _list(key: str, item: JSONObject) -> JSONObject:
    return {"type": "object", "required": [key], "properties": {key: {"type": "array", "items": item}}}


T = {"tenant": s.TENANT_ID}
TL = {"tenant": s.TENANT_ID, "link": s.LINK_ID}
TR = {"tenant": s.TENANT_ID, "recording": s.RECORDING_ID}
TRF = {**TR, "file": s.RECORDING_FILE}
TP = {"tenant": s.TENANT_ID, "participant": s.PARTICIPANT_ID}

# compliance recordings (recording_handlers.py); no archive configured: 404 recording_not_configured
_STRS: JSONObject = {"type": "array", "items": {"type": "string"}}
RECORDING_FILE = _object(["name", "kind", "size"],
                         {"name": {"type": "string"}, "kind": {"type": "string",
                                                               "enum": ["audio", "video", "chat", "timeline"]},
                          "participant": {"type": ["string", "null"]}, "codec": {"type": ["string", "null"]},
                          "size": {"type": "integer"}})
RECORDING = _object(
    ["id", "meeting", "link", "regions", "recorder", "participants", "started_at", "ended_at", "files", "held_by"],
    {"id": {"type": "string"}, "meeting": {"type": "string"}, "link": {"type": ["string", "null"]},
     "regions": _STRS, "recorder": {"type": "object", "description": "the recorder member: participant, name, "
                                                                      "recorder (its pool member)"},
     "participants": {"type": "object", "additionalProperties": {"type": "string"},
                      "description": "participant id -> display name"},
     "started_at": {"type": "number"}, "ended_at": {"type": ["number", "null"]},
     "files": {"type": "array", "items": RECORDING_FILE},
     "session": {"type": "string", "description": "the node's recording-on it records (a host's new start is "
                                                  "a new session, so a new recording)"},
     "parts": {"type": "array", "items": {"type": "object"},
               "description": "one per recorder that ran it: part, recorder, participant, region, from_ms, to_ms, "
                              "files, lost"},
     "gaps": {"type": "array", "items": {"type": "object"},
              "description": "a recorder lost mid-meeting: from_ms, to_ms, recorder, replaced_by (null: nothing "
                             "continued it), region, cause"},
     "held_by": {**_STRS, "description": "active legal holds covering it: deletion is refused while any"}},
)
PLAY_TICKET = _object(["ticket", "url", "expires_at", "content_type", "kind", "size"], {
    "ticket": {"type": "string", "description": "the ticket's id, as the audit record names it"},
    "url": {"type": "string", "description": "the media URL (same origin) to give the element's src"},
    "expires_at": {"type": "integer", "description": "Unix s"}, "content_type": {"type": "string"},
    "kind": {"type": "string", "enum": ["audio", "video"]}, "size": {"type": "integer"}})
RECORDING_POLICY = _object(["policy", "retention_days"],
                           {"policy": {"enum": ["off", "allowed", "required"]},
                            "retention_days": {"type": "integer", "description": "0: keep until deleted"}})
LINK_RECORDING_POLICY = _object(["link", "policy", "effective"],
                                {"link": {"type": "string"},
                                 "policy": {"enum": ["off", "allowed", "required", None],
                                            "description": "the link's own setting (null: none)"},
                                 "effective": {"enum": ["off", "allowed", "required"],
                                               "description": "what its meetings run under"}})
HOLD = _object(["hold", "scope", "target", "reason", "placed_by", "placed_at", "released_at"],
               {"hold": {"type": "string"}, "scope": {"enum": ["meeting", "link", "participant", "tenant"]},
                "target": {"type": "string"}, "reason": {"type": "string"}, "placed_by": {"type": "string"},
                "placed_at": {"type": "number"}, "released_at": {"type": ["number", "null"]}})

ENDPOINTS: list[Endpoint] = [
    # admin (tenant admin key, or the operator key)
    Endpoint("POST", "/v1/tenants", h.create_tenant, "Create a tenant (operator)", "admin", auth="operator",
             body=s.CREATE_TENANT, ok={201: OBJ}, errors=(404, 409, 422)),
    Endpoint("GET", "/v1/tenants", h.list_tenants,
             "List tenants (the operator: all; a tenant admin key: its own)", "admin", auth="admin",
             ok={200: _list("tenants", TENANT)}),
    Endpoint("GET", "/v1/tenants/{tenant}", h.show_tenant,
             "Show a tenant: jurisdiction, every region's rule, whether it is allowed and why, serving nodes, "
             "warnings", "admin", auth="admin", path_params=T, ok={200: TENANT_DOCUMENT}, errors=(404,)),
    Endpoint("PUT", "/v1/tenants/{tenant}/regions", h.set_tenant_regions,
             "Change the regions a tenant allows (with a reason; audited)", "admin", auth="admin", path_params=T,
             body=s.SET_REGIONS, ok={200: TENANT_DOCUMENT}, errors=(404, 422)),
    Endpoint("POST", "/v1/tenants/{tenant}/admin-keys", h.create_admin_key,
             "Create a tenant admin API key (secret shown once)", "admin", auth="admin", path_params=T,
             body=s.CREATE_ADMIN_KEY,
             ok={201: _object([*ADMIN_KEY_REQUIRED, "key"],
                              {**ADMIN_KEY_PROPERTIES, "key": {"type": "string"}, "note": {"type": "string"}})},
             errors=(404,)),
    Endpoint("GET", "/v1/tenants/{tenant}/admin-keys", h.list_admin_keys, "List a tenant's admin keys", "admin",
             auth="admin", path_params=T, ok={200: _list("keys", ADMIN_KEY)}),
    Endpoint("DELETE", "/v1/tenants/{tenant}/admin-keys/{key_id}", h.revoke_admin_key, "Revoke an admin key",
             "admin", auth="admin", path_params={**T, "key_id": s.KEY_ID}, ok={200: OBJ}, errors=(404, 409)),
    Endpoint("POST", "/v1/tenants/{tenant}/links", h.create_link, "Create a meeting link", "links", auth="admin",
             path_params=T, body=s.CREATE_LINK, ok={201: CREATED_LINK}, errors=(404,)),
    Endpoint("GET", "/v1/tenants/{tenant}/links", h.list_links, "List a tenant's meeting links", "links",
             auth="admin", path_params=T, ok={200: _list("links", LINK_PUBLIC)}, errors=(404,)),
    Endpoint("GET", "/v1/tenants/{tenant}/links/{link}", h.get_link, "Show a meeting link", "links", auth="admin",
             path_params=TL, ok={200: LINK_PUBLIC}, errors=(404,)),
    Endpoint("POST", "/v1/tenants/{tenant}/links/{link}/revoke", h.revoke_link,
             "Revoke a meeting link at once (optionally end its meeting)", "links", auth="admin", path_params=TL,
             body=s.REVOKE_LINK, ok={200: OBJ}, errors=(404, 502, 503)),
    Endpoint("GET", "/v1/tenants/{tenant}/meetings", h.list_meetings,
             "Running meetings: where each runs (node, region, jurisdiction) and how many are in", "meetings",
             auth="admin", path_params=T, ok={200: _list("meetings", MEETING)}, errors=(404,)),
    Endpoint("POST", "/v1/tenants/{tenant}/links/{link}/end", h.end_meeting,
             "End a link's running meeting for everyone (the link stays valid; audited)", "meetings", auth="admin",
             path_params=TL, body=s.EMPTY, ok={200: OBJ}, errors=(404, 502, 503)),
    Endpoint("GET", "/v1/tenants/{tenant}/lockouts", h.list_lockouts,
             "Password back-offs and locks (guessers); links under guessing (slowed)", "admin",
             auth="admin", path_params=T, ok={200: _list("lockouts", LOCKOUT)}),
    Endpoint("POST", "/v1/tenants/{tenant}/lockouts/clear", h.clear_lockout, "Clear a password lock", "admin",
             auth="admin", path_params=T, body=s.CLEAR_LOCKOUT, ok={200: OBJ}, errors=(404,)),
    Endpoint("POST", "/v1/operator/signing-keys/rotate", h.rotate_signing_key,
             "Rotate the join-token signing key (old key stays published for the grace period)", "admin",
             auth="operator", body=s.EMPTY, ok={200: OBJ}),
    Endpoint("POST", "/v1/operator/regions", h.define_region,
             "Define a region (operator; audited; an existing region is never redefined)", "admin",
             auth="operator", body=s.DEFINE_REGION, ok={201: OBJ}, errors=(404, 409)),
    Endpoint("GET", "/v1/operator/regions", h.list_regions, "List the defined regions (operator)", "admin",
             auth="operator", ok={200: _list("regions", OBJ)}),
    Endpoint("POST", "/v1/operator/node-keys", h.enroll_node_key,
             "Enroll a node public key for a region (operator; audited): nodes signing with it may serve that "
             "region", "admin", auth="operator", body=s.ENROLL_NODE_KEY, ok={201: OBJ}, errors=(404, 409)),
    Endpoint("GET", "/v1/operator/node-keys", h.list_node_keys, "List the enrolled node keys (operator)", "admin",
             auth="operator", ok={200: _list("keys", OBJ)}),
    Endpoint("DELETE", "/v1/operator/node-keys/{key_id}", h.revoke_node_key,
             "Revoke a node key (operator; audited): its nodes get no new rooms", "admin", auth="operator",
             path_params={"key_id": s.NODE_KEY_ID}, body=s.REVOKE_NODE_KEY, ok={200: OBJ}, errors=(404,)),
    Endpoint("GET", "/v1/tenants/{tenant}/audit", h.export_audit,
             "Export the tenant's audit chain (signed JSON Lines; check with `castellan audit verify`)", "admin",
             auth="admin", path_params=T, ok={200: {"type": "string"}}, errors=(404,),
             content_type="application/x-ndjson"),
    # compliance recordings (docs/recording.md)
    Endpoint("GET", "/v1/tenants/{tenant}/recordings", rh.list_recordings,
             "The tenant's recordings: meeting, link, regions, participants, times, files, holds (audited: "
             "recording.listed)", "recordings", auth="admin", path_params=T, ok={200: _list("recordings", RECORDING)},
             errors=(404,)),
    Endpoint("DELETE", "/v1/tenants/{tenant}/recordings/{recording}", rh.delete_recording,
             "Delete a recording (refused with 409 legal_hold while a hold covers it, 503 no_store_for_region while "
             "its region has no recording volume here; all audited)", "recordings",
             auth="admin", path_params=TR, ok={200: OBJ}, errors=(404, 409, 503)),
    Endpoint("GET", "/v1/tenants/{tenant}/recordings/{recording}/export", rh.export_recording,
             "The recording's signed export package as a tar (extract it, then `castellan recording verify DIR "
             "--public-key KEY`); audited", "recordings", auth="admin", path_params=TR,
             ok={200: {"type": "string"}}, errors=(404, 503), content_type="application/x-tar"),
    Endpoint("POST", "/v1/tenants/{tenant}/recordings/{recording}/files/{file}/play", rh.play_recording_file,
             "A play ticket for one audio or video file of a recording: its media URL, for a <video>/<audio> "
             "element, answers for that file only, for 15 minutes (audited: recording.accessed, purpose play; "
             "legal holds do not stop playback)", "recordings", auth="admin", path_params=TRF, body=s.EMPTY,
             ok={201: PLAY_TICKET}, errors=(404, 422, 503)),
    Endpoint("GET", "/v1/tenants/{tenant}/recordings/{recording}/files/{file}/media/{ticket}", rh.recording_media,
             "The file's plaintext for a play ticket, whole or one byte range (Range: bytes=first-last → 206 with "
             "Content-Range; 416 for any other range); no admin key: the ticket is the credential",
             "recording-playback", auth="ticket", path_params={**TRF, "ticket": s.PLAY_TICKET},
             ok={200: {"type": "string", "format": "binary"}, 206: {"type": "string", "format": "binary"}},
             errors=(404, 410, 416, 503), content_type="video/webm",
             content_types=("audio/webm", "video/x-matroska", "audio/x-matroska")),
    Endpoint("GET", "/v1/tenants/{tenant}/recording-subjects/{participant}/export", rh.export_subject,
             "GDPR access: everything held about one participant (their tracks, their chat and timeline lines, "
             "the audit records naming them) as a tar; audited (recording.subject_exported)", "recordings",
             auth="admin", path_params=TP, ok={200: {"type": "string"}}, errors=(404, 503),
             content_type="application/x-tar"),
    Endpoint("POST", "/v1/tenants/{tenant}/recording-subjects/{participant}/erase", rh.erase_subject,
             "GDPR erasure: one participant out of every recording (tracks deleted, chat and timeline lines "
             "removed); refused whole (409 legal_hold, naming the holds) while a hold covers any of them; audited",
             "recordings", auth="admin", path_params=TP, body=s.EMPTY,
             ok={200: _object(["participant", "erased", "kept"], {"participant": {"type": "string"},
                                                                  "erased": _STRS, "kept": _STRS})},
             errors=(404, 409, 503)),
    Endpoint("GET", "/v1/tenants/{tenant}/recording-policy", rh.get_recording_policy,
             "The tenant's recording policy and retention", "recordings", auth="admin", path_params=T,
             ok={200: RECORDING_POLICY}, errors=(404,)),
    Endpoint("PUT", "/v1/tenants/{tenant}/recording-policy", rh.set_recording_policy,
             "Set the tenant's recording policy and retention (audited)", "recordings", auth="admin",
             path_params=T, body=s.SET_RECORDING_POLICY, ok={200: RECORDING_POLICY}, errors=(404,)),
    Endpoint("GET", "/v1/tenants/{tenant}/links/{link}/recording-policy", rh.get_link_recording_policy,
             "A link's own recording policy and the one its meetings run under", "recordings", auth="admin",
             path_params=TL, ok={200: LINK_RECORDING_POLICY}, errors=(404,)),
    Endpoint("PUT", "/v1/tenants/{tenant}/links/{link}/recording-policy", rh.set_link_recording_policy,
             "Tighten a link's recording policy (audited; 422 link_cannot_loosen)", "recordings", auth="admin",
             path_params=TL, body=s.SET_LINK_RECORDING_POLICY, ok={200: LINK_RECORDING_POLICY}, errors=(404, 422)),
    Endpoint("POST", "/v1/tenants/{tenant}/links/{link}/recorder", rh.recorder_credential,
             "A recorder's join credential for the link's meeting: role recorder, the tenant's recorder name, "
             "single use, bound to the room (audited: recording.recorder_credential; 422 recording_off)",
             "recordings", auth="admin", path_params=TL, body=s.RECORDER_CREDENTIAL,
             ok={200: RECORDER_JOINED}, errors=(404, 410, 422, 503)),
    # recorder pools (docs/recording.md, "Launching recorders")
    Endpoint("POST", "/v1/recorder-pool-keys", ph.create_pool_key,
             "Create a recorder pool key for one region (secret shown once; audited): it may only announce that "
             "region's pool and fetch its jobs' recorder credentials", "recorder-pools", auth="operator",
             body=s.CREATE_POOL_KEY, ok={201: _object([*POOL_KEY_REQUIRED, "key"],
                                                      {**POOL_KEY_PROPERTIES, "key": {"type": "string"},
                                                       "note": {"type": "string"}})}, errors=(404,)),
    Endpoint("GET", "/v1/recorder-pool-keys", ph.list_pool_keys, "List the recorder pool keys", "recorder-pools",
             auth="operator", ok={200: _list("keys", POOL_KEY)}),
    Endpoint("DELETE", "/v1/recorder-pool-keys/{key_id}", ph.revoke_pool_key, "Revoke a recorder pool key "
             "(audited)", "recorder-pools", auth="operator", path_params={"key_id": s.KEY_ID}, ok={200: OBJ},
             errors=(404, 409)),
    Endpoint("POST", "/v1/recorder-pools/{pool}/announce", ph.announce_pool,
             "A recorder pool lives (region: its key's) and gets its jobs: launch these, stop those",
             "recorder-pools", auth="pool", path_params={"pool": s.POOL_ID}, body=s.ANNOUNCE_POOL,
             ok={200: ANNOUNCED}, errors=(409,)),
    Endpoint("POST", "/v1/recorder-jobs/{job}/credential", ph.job_credential,
             "The recorder credential of a job given to this key's pool (audited as the pool key; 403 for any "
             "other job)", "recorder-pools", auth="pool", path_params={"job": s.JOB_ID}, body=s.EMPTY,
             ok={200: RECORDER_JOINED}, errors=(404, 410, 422, 503)),
    Endpoint("GET", "/v1/tenants/{tenant}/recorder-refusals", ph.recorder_refusals,
             "Meetings of the tenant that want a recorder and got none in the last minute, and why",
             "recordings", auth="admin", path_params=T,
             ok={200: _list("refusals", _object(["tenant", "room", "code", "message"], {
                 "tenant": {"type": "string"}, "room": {"type": "string"}, "code": {"type": "string"},
                 "message": {"type": "string"}}))}, errors=(404,)),
    Endpoint("POST", "/v1/tenants/{tenant}/recording-retention/apply", rh.apply_retention,
             "Apply the tenant's retention now: delete what has expired, except what a hold keeps (audited)",
             "recordings", auth="admin", path_params=T, body=s.EMPTY,
             ok={200: _object(["deleted", "kept_by_hold", "kept_no_store"],
                              {"deleted": _STRS, "kept_by_hold": _STRS, "kept_no_store": _STRS})},
             errors=(404,)),
    Endpoint("GET", "/v1/tenants/{tenant}/recording-holds", rh.list_holds, "The tenant's active legal holds",
             "recordings", auth="admin", path_params=T, ok={200: _list("holds", HOLD)}, errors=(404,)),
    Endpoint("POST", "/v1/tenants/{tenant}/recording-holds", rh.place_hold,
             "Place a legal hold on a meeting, link, participant or the whole tenant (audited)", "recordings",
             auth="admin", path_params=T, body=s.PLACE_HOLD, ok={201: HOLD}, errors=(404,)),
    Endpoint("POST", "/v1/tenants/{tenant}/recording-holds/{hold}/release", rh.release_hold,
             "Release a legal hold (it stays in the record; audited)", "recordings", auth="admin",
             path_params={**T, "hold": s.HOLD_ID}, body=s.EMPTY, ok={200: OBJ}, errors=(404,)),
    # verifiable residency (docs/residency.md)
    Endpoint("GET", "/v1/tenants/{tenant}/transparency/head", th.head,
             "The tenant's transparency log: its signed tree head now (RFC 9162)", "residency", auth="admin",
             path_params=T, ok={200: HEAD}, errors=(404,)),
    Endpoint("GET", "/v1/tenants/{tenant}/transparency/consistency", th.consistency,
             "Consistency proof between two sizes of the tenant's log", "residency", auth="admin", path_params=T,
             query={"first": Int(maximum=QMAX), "second": Int(maximum=QMAX)}, ok={200: OBJ}, errors=(404,)),
    Endpoint("GET", "/v1/tenants/{tenant}/transparency/inclusion", th.inclusion,
             "Inclusion proof of record `index` (0-based: seq - 1) in the log of `size` records", "residency",
             auth="admin", path_params=T, query={"index": Int(maximum=QMAX), "size": Int(maximum=QMAX)},
             ok={200: OBJ}, errors=(404,)),
    Endpoint("PUT", "/v1/tenants/{tenant}/transparency/webhook", th.set_webhook,
             "Where each new signed head is POSTed (with its consistency proof); audited", "residency",
             auth="admin", path_params=T, body=s.SET_WEBHOOK, ok={200: OBJ}, errors=(404,)),
    Endpoint("GET", "/v1/tenants/{tenant}/meetings/{meeting}/evidence", th.evidence,
             "A meeting's records and the tenant's policy records with inclusion proofs under one signed head, "
             "and consistency proofs from earlier heads (and from `held`): check with `castellan residency "
             "verify`", "residency", auth="admin", path_params={**T, "meeting": s.MEETING_ID},
             query={"held": Int(maximum=QMAX)}, ok={200: OBJ}, errors=(404,)),
    Endpoint("GET", "/v1/tenants/{tenant}/meetings/{meeting}/residency", th.summary,
             "Where a meeting was processed, verified from the nodes' signed receipts (the admin console's "
             "line)", "residency", auth="admin", path_params={**T, "meeting": s.MEETING_ID},
             ok={200: RESIDENCY_SUMMARY}, errors=(404,)),
    Endpoint("POST", "/v1/receipts", th.receive_receipt,
             "A node's signed receipt for a meeting it carried (authenticated by its enrolled key's signature)",
             "residency", body=s.RECEIPT, ok={200: OBJ, 201: OBJ}, errors=(403,)),
    Endpoint("GET", "/v1/transparency/node-keys", th.node_keys,
             "The regions and enrolled node keys, for tenants to pin (`castellan audit fetch --node-keys`)",
             "residency", ok={200: OBJ}),
    Endpoint("GET", "/v1/transparency/log-key", th.log_key,
             "The transparency log's public key (PEM), for tenants to pin", "residency",
             ok={200: {"type": "string"}}, content_type="application/x-pem-file"),
    # public
    Endpoint("GET", "/v1/audit/public-key", h.audit_public_key,
             "The deployment's audit-signing public key (PEM), to verify exports", "admin",
             ok={200: {"type": "string"}}, content_type="application/x-pem-file"),
    Endpoint("GET", "/v1/links/{link}", h.link_info, "What the link page shows before joining", "join",
             path_params={"link": s.LINK_ID},
             ok={200: {"type": "object", "required": ["title", "password_required", "lobby"],
                       "properties": {"title": {"type": "string"}, "password_required": {"type": "boolean"},
                                      "lobby": {"type": "boolean"},
                                      "recording": {"type": "object", "required": ["policy", "text"],
                                                    "properties": {"policy": {"enum": ["off", "allowed", "required"]},
                                                                   "text": {"type": "string"}}}}}},
             errors=(404, 410)),
    Endpoint("POST", "/v1/join", h.join,
             "Join a meeting: link + name + password -> join token (+ device cookie, devices.py)", "join",
             body=s.JOIN, ok={200: JOINED, 202: WAITING}, errors=(401, 403, 404, 410, 429, 503)),
    Endpoint("GET", "/v1/lobby/{ticket}", h.lobby_wait,
             "Wait in the lobby (long-poll up to `wait` seconds); the join answer once admitted", "lobby",
             path_params={"ticket": s.TICKET_ID}, query={"wait": Int(minimum=0, maximum=60)},
             ok={200: JOINED, 202: WAITING}, errors=(403, 404, 410, 503)),
    Endpoint("GET", "/v1/links/{link}/lobby", h.lobby_list, "Host: who is waiting", "lobby", auth="host",
             path_params={"link": s.LINK_ID}, ok={200: _list("waiting", TICKET)}, errors=(404, 410)),
    Endpoint("POST", "/v1/links/{link}/lobby/{ticket}", h.lobby_decide, "Host: admit or deny", "lobby",
             auth="host", path_params={"link": s.LINK_ID, "ticket": s.TICKET_ID}, body=s.LOBBY_DECISION,
             ok={200: TICKET}, errors=(404, 410)),
    Endpoint("GET", "/v1/client", h.client_release,
             "The browser client this server serves: version, SHA-256 of its file listing, each file's SHA-256 "
             "(compare with the release's published value; docs/e2ee.md)", "keys",
             ok={200: {"type": "object", "required": ["version", "sha256", "files"],
                       "properties": {"version": {"type": "string"}, "sha256": {"type": "string"},
                                      "files": {"type": "object", "additionalProperties": {"type": "string"}}}}}),
    Endpoint("GET", "/.well-known/jwks.json", h.jwks, "Join-token public keys (JWKS)", "keys", ok={200: JWKS}),
    Endpoint("GET", "/.well-known/castellan-node-keys.json", h.node_keys,
             "Enrolled node public keys by region (nodes verify relay peers with them; docs/protocol.md)", "keys",
             ok={200: _list("keys", {"type": "object", "required": ["key_id", "region", "public_key"],
                                     "properties": {"key_id": {"type": "string"}, "region": {"type": "string"},
                                                    "public_key": {"type": "string"}}})}),
    Endpoint("GET", "/v1/revocations", h.revocations, "Meeting links revoked in the last hour (nodes poll this)",
             "keys", ok={200: {**_list("links", {"type": "string"}),
                               "properties": {"links": {"type": "array", "items": {"type": "string"}},
                                              "window": {"type": "integer"}}}}),
]
