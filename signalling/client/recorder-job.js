// The recorder's job on a production page (issue 15, docs/recording.md "The recorder page in production"): what the
// recorder pool hands the page it opened — never through a URL. The pool's own Chromium defines
// `window.castellanRecorderJob` before any of the page's scripts run (a Playwright init script,
// recording/pool/launcher.py); a link cannot, and no script of the page's origin but ours runs (CSP script-src
// 'self'). The job is refused here unless its join credential says role `recorder` — so a participant's
// credential never turns a page into a recorder — and recorder.js switches the tap on only once the node, which
// verified that credential's signature, says `joined.recorder`.
//
// A job without the link secret (the pool has the tenant's recorder key instead): the page asks the pool's sink
// to attest its KeyPackage (`sinkAttester`) and a member hands it the link's secrets (docs/recording.md).
//
// Pure (no DOM): tests/client/recorder-job.test.mjs.

const LOOPBACK = ["127.0.0.1", "[::1]", "localhost"];
const MAX_FIELD = 8192;

/** The claims of a join token (a JWS: header.payload.signature), NOT verified: the node verifies the signature;
 *  the page only refuses early what the node would not treat as a recorder. null when it is not a JWS. */
export function tokenClaims(token) {
  if (typeof token !== "string" || token.length > MAX_FIELD) return null;
  const parts = token.split(".");
  if (parts.length !== 3 || !parts.every((p) => /^[A-Za-z0-9_-]+$/.test(p))) return null;
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)));
    return claims && typeof claims === "object" && !Array.isArray(claims) ? claims : null;
  } catch (e) {
    return null;
  }
}

function url(value, protocols) {
  if (typeof value !== "string" || value.length > MAX_FIELD) return null;
  try {
    const u = new URL(value);
    return protocols.includes(u.protocol) ? u : null;
  } catch (e) {
    return null;
  }
}

/** `raw` (whatever `window.castellanRecorderJob` holds; undefined on every page the pool did not open) ->
 *  `{job: null, error: null}` (no job: an ordinary page), `{job, error: null}` or `{job: null, error}` (a job that
 *  must not run: the page says why and joins nothing). job = {ws, token, sink, name, secret, participant}. */
export function readRecorderJob(raw) {
  if (raw === undefined || raw === null) return { job: null, error: null };
  const refuse = (why) => ({ job: null, error: `recorder job refused: ${why}` });
  if (typeof raw !== "object" || Array.isArray(raw)) return refuse("not an object");
  const ws = url(raw.ws_url, ["ws:", "wss:"]);
  if (!ws) return refuse("ws_url is not a ws(s) URL");
  const sink = url(raw.sink, ["ws:"]);
  if (!sink || !LOOPBACK.includes(sink.hostname)) return refuse("the sink must be a ws:// URL on loopback");
  const claims = tokenClaims(raw.token);
  if (!claims) return refuse("the credential is not a join token");
  if (claims.role !== "recorder") return refuse(`the credential's role is ${JSON.stringify(claims.role ?? "participant")}, not "recorder"`);
  // no secret: the pool holds the tenant's recorder key, and the link's secrets come by a member's handover
  if (raw.secret !== undefined && (typeof raw.secret !== "string" || !/^[A-Za-z0-9_-]{22,256}$/.test(raw.secret))) {
    return refuse("a malformed link secret");
  }
  const name = typeof raw.name === "string" && raw.name.trim() ? raw.name.trim().slice(0, 100) : "archive";
  return {
    job: { ws: ws.href, token: raw.token, sink: sink.href, name, secret: raw.secret ?? null, participant: String(claims.sub || "") },
    error: null,
  };
}

function b64u(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export const ATTEST_WAIT_MS = 10000;

/** `attest(leafKey)` for the MLS member: asks the pool's sink (`<sink>/attest`, the job's own token in its path,
 *  loopback only) for the recorder key's attestation of our KeyPackage's leaf signature key. The pool signs its
 *  job's tenant, room and participant, never what the page says; rejects when the pool refuses or is silent. */
export function sinkAttester(sink, { WebSocketImpl = globalThis.WebSocket, timers = globalThis } = {}) {
  const url = `${sink.replace(/\/+$/, "")}/attest`;
  return (leafKey) => new Promise((resolve, reject) => {
    const ws = new WebSocketImpl(url);
    let done = false;
    const finish = (fn, v) => {
      if (done) return;
      done = true;
      timers.clearTimeout(timer);
      try { ws.close(); } catch (e) { /* closing already */ }
      fn(v);
    };
    const timer = timers.setTimeout(() => finish(reject, new Error("the pool did not attest our KeyPackage in time")), ATTEST_WAIT_MS);
    ws.onopen = () => ws.send(JSON.stringify({ type: "attest", key: b64u(leafKey) }));
    ws.onmessage = (ev) => {
      let m = null;
      try { m = JSON.parse(ev.data); } catch (e) { /* below */ }
      if (m && m.type === "attestation" && typeof m.attestation === "string" && /^[A-Za-z0-9_-]{1,128}$/.test(m.attestation)) {
        finish(resolve, m.attestation);
      } else {
        finish(reject, new Error("the pool refused to attest our KeyPackage"));
      }
    };
    ws.onerror = () => finish(reject, new Error("the pool's sink is unreachable"));
    ws.onclose = () => finish(reject, new Error("the pool's sink closed without attesting"));
  });
}
