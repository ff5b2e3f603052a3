// The client's one shared state: the URL (query flags, #fragment) and what the page knows about this participant,
// the meeting and its media. Every view module reads and writes this object; tests read it as window.castellanApp.

import { secretFromFragment } from "./e2ee.js";

export const query = new URLSearchParams(location.search);
const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));

export const app = {
  link: (location.pathname.match(/\/j\/([^/]+)$/) || [])[1] || null,
  direct: query.get("ws") && query.get("token") ? { ws: query.get("ws"), token: query.get("token") } : null,
  secret: secretFromFragment(location.hash),
  hostKey: fragment.get("h"),
  e2eeWanted: query.get("e2ee") !== "0",
  info: null,
  joinAnswer: null,
  password: null, // kept in memory only, to rejoin after a node restart without asking again
  name: "",
  local: null, // MediaStream (camera + mic)
  devices: { camera: "", mic: "" },
  session: null,
  e2ee: null,
  tiles: new Map(), // tile key -> {el, video, participant, stream}
  peerState: new Map(), // participant id -> {audioMuted, videoOff}
  micMuted: false,
  camOff: false,
  screen: null, // {transceiver, stream}
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
