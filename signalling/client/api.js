// The control plane's public API as the join page uses it, with every refusal turned into a message a
// participant can act on. Nothing here ever sends the link's #fragment: only the link id (from the path),
// the name, the password and a host key.

export class JoinError extends Error {
  constructor(code, message, { status = 0, retryAfter = null, detail = null } = {}) {
    super(message);
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
    this.detail = detail;
  }
}

const MESSAGES = {
  link_not_found: "This meeting link is not valid. Check that you copied all of it.",
  link_revoked: "This meeting link was revoked by its organiser.",
  link_expired: "This meeting link has expired. Ask the organiser for a new one.",
  password_required: "This meeting needs a password.",
  wrong_password: "Wrong meeting password. Check it and try again.",
  wrong_host_key: "The host key in this link is not valid for this meeting.",
  meeting_full: "This meeting is full.",
  lobby_full: "The waiting room is full. Try again in a moment.",
  denied: "The host did not let you in.",
  ticket_not_found: "Your place in the waiting room expired. Join again.",
  placement_refused: "No media server is available in the regions your organisation allows, so the meeting cannot start now. Nothing was sent elsewhere.",
};

export function explain(code, fallback) {
  return MESSAGES[code] || fallback || `Could not join (${code}).`;
}

async function call(method, path, body, signal = undefined, headers = {}, credentials = "omit") {
  let r;
  try {
    r = await fetch(path, {
      signal,
      method,
      headers: { ...(body ? { "Content-Type": "application/json" } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
      cache: "no-store",
      credentials,
      referrerPolicy: "no-referrer",
    });
  } catch (e) {
    if (e.name === "AbortError") throw new JoinError("cancelled", "You left the waiting room.");
    throw new JoinError("unreachable", "Cannot reach the meeting server. Check your connection and try again.");
  }
  let data = {};
  try { data = await r.json(); } catch (e) { data = {}; }
  if (r.ok) return { status: r.status, data };
  const code = data.error || `http_${r.status}`;
  let retryAfter = null;
  if (r.status === 429 || code === "busy") {
    retryAfter = parseInt(r.headers.get("Retry-After") || data.retry_after || "0", 10) || null;
    const msg = code === "locked"
      ? "Too many wrong passwords: joining is locked for now. Ask the organiser, or wait"
      : code === "busy" ? "Many people are joining right now. Please wait" : "Too many attempts. Please wait";
    throw new JoinError(code, msg, { status: r.status, retryAfter });
  }
  let message = explain(code, data.message);
  if (code === "placement_refused" && data.reason) message += ` (${data.reason})`;
  throw new JoinError(code, message, { status: r.status, detail: data });
}

export async function linkInfo(link) {
  return (await call("GET", `/v1/links/${encodeURIComponent(link)}`)).data;
}

/** POST /v1/join. Resolves {status: "joined", ...} or {status: "waiting", ticket, poll}. */
export async function join({ link, name, password, hostKey, unreachableNode, regionHint }) {
  const body = { link, name };
  // a development build's ?region= only (state.js); a production browser sends none: the regional ingress it
  // reached tells the control plane its region, and no hint ever leaves the tenant's allowed regions
  if (regionHint) body.region_hint = regionHint;
  if (password) body.password = password;
  if (hostKey) body.host_key = hostKey;
  // the node we lost: the control plane health-checks it and re-places the meeting at once if it is dead
  if (unreachableNode) body.unreachable_node = unreachableNode;
  // same-origin: the control plane's device cookie (HttpOnly, SameSite=Strict, Path=/v1/join) goes along, so a
  // browser that entered this password before is not blocked by someone guessing from the same address
  return (await call("POST", "/v1/join", body, undefined, {}, "same-origin")).data;
}

/** Waits in the lobby (long polls); resolves with the join answer once admitted. */
export async function waitInLobby(ticket, { signal, onWait } = {}) {
  for (;;) {
    if (signal && signal.aborted) throw new JoinError("cancelled", "You left the waiting room.");
    const { status, data } = await call("GET", `/v1/lobby/${encodeURIComponent(ticket)}?wait=20`, null, signal);
    if (status === 200 && data.status === "joined") return data;
    if (onWait) onWait(data);
  }
}

/** Host: who is waiting in the lobby ([{ticket, name, participant, state, waiting_since}]). */
export async function lobbyList(link, hostKey) {
  return (await call("GET", `/v1/links/${encodeURIComponent(link)}/lobby`, null, undefined, { "X-Host-Key": hostKey })).data.waiting;
}

/** Host: admit or deny one waiting participant. */
export async function lobbyDecide(link, hostKey, ticket, admit) {
  return (await call("POST", `/v1/links/${encodeURIComponent(link)}/lobby/${encodeURIComponent(ticket)}`,
    { decision: admit ? "admit" : "deny" }, undefined, { "X-Host-Key": hostKey })).data;
}
