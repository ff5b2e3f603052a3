// The client release line in the page footer: "client 0.1.0 · sha256 be43 0dd0 f166 7abc…" (full value in its
// title). The hash is computed here, over the files this browser fetches from /static/ (names from /v1/client),
// the way signalling/control/release.py and `castellan client-hash` compute it: SHA-256 of the `sha256sum`
// listing. A tenant compares it with the value published for the release (docs/e2ee.md, "Threat model"); a
// server whose manifest disagrees with the bytes it serves is shown as such. It cannot vouch for itself against a
// server that serves a different client on purpose (that client would print what it likes): compare out of band
// with `castellan client-hash --url`.

const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
const sha256 = async (bytes) => hex(await crypto.subtle.digest("SHA-256", bytes));

async function fetchBytes(url) {
  const r = await fetch(url, { cache: "no-cache", credentials: "omit" }); // revalidated: the copy this page ran
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.arrayBuffer();
}

// {version, sha256, claimed, files}; throws when the manifest or a file cannot be read
export async function computeRelease() {
  const manifest = await (await fetch("/v1/client", { cache: "no-store", credentials: "omit" })).json();
  const names = Object.keys(manifest.files).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)); // ASCII names: bytewise
  const files = {};
  for (const n of names) files[n] = await sha256(await fetchBytes(`/static/${n}`));
  const listing = names.map((n) => `${files[n]}  ${n}\n`).join("");
  return { version: manifest.version, sha256: await sha256(new TextEncoder().encode(listing)), claimed: manifest.sha256, files };
}

export async function showRelease(el, { development = false } = {}) {
  try {
    const r = await computeRelease();
    const short = r.sha256.slice(0, 16).match(/.{4}/g).join(" ");
    let text = `client ${r.version} · sha256 ${short}…`;
    if (r.sha256 !== r.claimed) text += " · differs from the server's manifest";
    if (development) text += " · development build";
    el.textContent = text;
    el.title = `Client release hash (SHA-256 of the sha256sum listing of its files):\n${r.sha256}\n` +
      "Compare it with the value published for this release.";
    el.dataset.sha256 = r.sha256;
    el.classList.toggle("bad", r.sha256 !== r.claimed || development);
  } catch (e) {
    el.textContent = "client hash unavailable";
    el.title = String(e && e.message ? e.message : e);
    el.classList.add("bad");
  }
}
