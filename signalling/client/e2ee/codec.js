// Which leading bytes of an encoded frame stay in the clear (and authenticated as SFrame metadata), so the node
// can still read what it needs: VP8 payload header (10 bytes on a keyframe, 3 otherwise: keyframe detection,
// simulcast), the Opus TOC byte (speaker detection), H.264 NAL headers up to and including 2 bytes of the first
// slice header. VP9/AV1: nothing (the node reads their RTP payload descriptors, which are not part of the frame).
// H.264 frames are Annex B: the SFrame part is escaped (emulation prevention) so it never contains a start code.

function h264NalStarts(b) {
  const out = [];
  for (let i = 0; i + 2 < b.length; i++) {
    if (b[i] === 0 && b[i + 1] === 0 && b[i + 2] === 1) { out.push(i + 3); i += 2; }
  }
  return out;
}

function h264Clear(b) {
  for (const pos of h264NalStarts(b)) {
    const type = b[pos] & 0x1f;
    if (type === 1 || type === 5) return Math.min(b.length, pos + 2); // NAL header + 1 byte of slice header
  }
  return 0;
}

/** {n, h264}: how many leading bytes stay clear, and whether the rest needs H.264 escaping. */
export function clearBytes({ kind, codec, keyframe }, data) {
  const c = (codec || (kind === "audio" ? "opus" : "vp8")).toLowerCase();
  let n;
  if (kind === "audio") n = c === "opus" ? 1 : 0;
  else if (c === "vp8") n = keyframe ? 10 : 3;
  else if (c === "h264") n = h264Clear(data);
  else n = 0;
  return { n: Math.min(n, data.length), h264: kind !== "audio" && c === "h264" };
}

// emulation prevention (H.264 7.4.1): the ciphertext must never contain a start code
export function rbspEscape(b) {
  const out = [];
  let zeros = 0;
  for (const x of b) {
    if (zeros >= 2 && x <= 3) { out.push(3); zeros = 0; }
    out.push(x);
    zeros = x === 0 ? zeros + 1 : 0;
  }
  return new Uint8Array(out);
}

export function rbspUnescape(b) {
  const out = [];
  let zeros = 0;
  for (let i = 0; i < b.length; i++) {
    const x = b[i];
    if (zeros >= 2 && x === 3) { zeros = 0; continue; }
    out.push(x);
    zeros = x === 0 ? zeros + 1 : 0;
  }
  return new Uint8Array(out);
}
