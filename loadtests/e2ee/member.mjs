// A headless meeting member: the browser client's own E2EE modules (signalling/client/e2ee.js: the MLS member,
// SFrame in-process since Node.js has no Worker) over a real WebSocket to a real node (docs/protocol.md v1 +
// docs/e2ee.md). No media path: frames are sealed and opened in-process, which is what "holds the epoch's
// SFrame key and can decrypt a frame another member sealed" needs. Node 20 has no global WebSocket: `ws`, pinned
// in signalling/vendor/package-lock.json.

import WebSocket from "../../signalling/vendor/node_modules/ws/wrapper.mjs";
import { E2EE } from "../../signalling/client/e2ee.js";

export class HeadlessMember extends EventTarget {
  /**
   * @param {string} wsUrl    the node's /ws
   * @param {string} token    a join token
   * @param {Uint8Array} secret  the link secret
   * @param {{deferred?: boolean, recorderKey?, credential?, attest?}} opts  deferred: send our KeyPackage, then
   *   process no handshake (a member whose device is busy: it stays in the group and connected, see
   *   loadtests/e2ee/README.md); recorderKey, credential, attest: the recorder's handover (docs/recording.md), as
   *   E2EE takes them (a recorder: `secret` null and `attest`)
   */
  constructor(wsUrl, token, secret, { deferred = false, recorderKey = null, credential = null, attest = null } = {}) {
    super();
    this.wsUrl = wsUrl;
    this.token = token;
    this.deferred = deferred;
    this.bytesIn = 0; // handshake bytes received (mls_* messages)
    this.bytesOut = 0;
    this.e2ee = new E2EE(secret, (msg) => this._send(msg), { recorderKey, credential, attest });
    this.e2ee.addEventListener("change", () => this.dispatchEvent(new Event("change")));
  }

  _send(msg) {
    const text = JSON.stringify(msg);
    if (msg.type.startsWith("mls_")) this.bytesOut += text.length;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
  }

  /** Connects and joins; resolves with the node's `joined`. */
  connect(timeoutMs = 20000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("join timed out")), timeoutMs);
      this.ws = new WebSocket(this.wsUrl, { maxPayload: 256 * 1024 + 1024 });
      this.ws.on("open", () => this.ws.send(JSON.stringify({ type: "join", token: this.token })));
      this.ws.on("error", (e) => { clearTimeout(timer); reject(e); });
      this.ws.on("message", (data) => {
        let msg;
        try {
          msg = JSON.parse(data.toString());
        } catch (e) {
          return;
        }
        if (msg.type === "joined" && !this.joined) {
          clearTimeout(timer);
          this.joined = msg;
          this.participant = msg.participant;
          this.e2ee.start(msg).then(() => resolve(msg), reject);
          return;
        }
        if (msg.type === "error") { this.lastError = msg; return; }
        if (msg.type.startsWith("mls_")) {
          this.bytesIn += data.length;
          if (this.deferred) return;
        }
        if (this.deferred && (msg.type === "presence" || msg.type.startsWith("participant_"))) return;
        this.e2ee.handle(msg);
      });
    });
  }

  /** Leaves the meeting (the node answers `left` and closes) and stops. */
  leave() {
    try {
      this._send({ type: "leave" });
    } finally {
      this.e2ee.stop();
      setTimeout(() => this.ws.terminate(), 200);
    }
  }

  close() {
    this.e2ee.stop();
    if (this.ws) this.ws.terminate();
  }

  epoch() {
    return this.e2ee.epoch();
  }
}
