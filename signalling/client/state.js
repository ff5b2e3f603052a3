// The client's one shared state: the URL (query flags, #fragment) and what the page knows about this participant,
// the meeting and its media. Every view module reads and writes this object; tests read it as window.castellanApp.

import { secretFromFragment } from "./e2ee.js";
import { recorderKeyFromFragment } from "./e2ee/handover.js";
import { readRecorderJob } from "./recorder-job.js";

// A development build is a page its server marked so (signalling/control/pages.py: `castellan dev --dev-client`,
// the test harness); nothing in the URL can make one. Only there do ?ws=&token= (join a node directly, no control
// plane), ?e2ee=0 (encryption off, to measure its cost), ?autojoin=1 and ?region=<id> (the join's region_hint, to
// try a cascaded meeting on one machine) count: on a production page a crafted link must not send a victim to
// another node or region, turn encryption off, or join with camera and microphone unasked. In production the
// region is the regional ingress the browser reached, which says so itself (signalling/control/regionhint.py).
export const development = document.querySelector('meta[name="castellan-build"]')?.content === "development";
const DEVELOPMENT_FLAGS = ["ws", "token", "e2ee", "autojoin", "region", "recorder"]; // recorder: recorder.js
const given = new URLSearchParams(location.search);
export const ignoredFlags = development ? [] : DEVELOPMENT_FLAGS.filter((f) => given.has(f));
for (const f of ignoredFlags) given.delete(f);
if (ignoredFlags.length) console.warn(`production page: ignored development flags ${ignoredFlags.join(", ")}`);
export const query = given;
const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
// The recorder pool's job, handed over by the pool's own browser before this script ran (recorder-job.js): the
// only way a production page becomes a recorder. Never read from the URL; a job whose credential is not a
// recorder's is refused (`recorderRefused`) and the page joins nothing.
const recorder = readRecorderJob(window.castellanRecorderJob);
if (recorder.error) console.warn(recorder.error);

export const app = {
  link: (location.pathname.match(/\/j\/([^/]+)$/) || [])[1] || null,
  development,
  ignoredFlags,
  recorderJob: recorder.job, // {ws, token, sink, name, secret, participant}: this page is the pool's recorder
  recorderRefused: recorder.error,
  direct: recorder.job ? { ws: recorder.job.ws, token: recorder.job.token }
    : query.get("ws") && query.get("token") ? { ws: query.get("ws"), token: query.get("token") } : null,
  // a recorder job without a secret is handed the link's secrets by a member (docs/recording.md): no L here
  secret: recorder.job ? (recorder.job.secret ? secretFromFragment(`#k=${recorder.job.secret}`) : null) : secretFromFragment(location.hash),
  recorderKey: recorder.job ? null : recorderKeyFromFragment(location.hash), // the link's `r`: the tenant's recorder key
  hostKey: fragment.get("h"),
  e2eeWanted: query.get("e2ee") !== "0",
  regionHint: query.get("region"), // development builds only (above); production: null
  info: null,
  joinAnswer: null,
  password: null, // kept in memory only, to rejoin after a node restart without asking again
  name: "",
  local: null, // MediaStream (camera + mic)
  devices: { camera: "", mic: "" },
  session: null,
  e2ee: null,
  tiles: new Map(), // tile key -> {el, video, participant, stream}
  viewports: null, // {session, reporter}: the remote videos' sizes told to the node (tiles.js)
  peerState: new Map(), // participant id -> {audioMuted, videoOff}
  micMuted: false,
  camOff: false,
  screen: null, // {transceiver, stream}
  hand: false, // this participant's raised hand (sent with the media state)
  camTransceiver: null, // the camera's sending transceiver: camera off stops its track, camera on replaces it
  micTransceiver: null,
  unread: 0, // chat messages while the chat panel was closed
  panel: null, // the open side panel: "people", "chat", "invite", "settings", "details"
  isHost: false, // this participant holds the host link (the node's `joined.host`)
  locked: false, // the meeting is locked (node: meeting_locked)
  recording: null, // the node's {policy, held, recorders}: held = "required" and no recorder in yet
  known: new Map(), // participant id -> name, for join/leave notices
  ended: false, // the meeting is over for this page (left, removed, ended): no rejoin attempts
  audioEls: new Map(), // track id -> <audio>
  speaker: null,
  lastStats: null,
  prevInbound: new Map(),
  quality: "—",
  safety: null,
  chatLog: [],
  errors: [],
  lobbyAbort: null,
  previewReady: Promise.resolve(),
  lobbyTimer: null,
  rejoining: false,
};
window.castellanApp = app;
