# Part of native/engine.pyx (one extension module, native.engine), included in the order listed there.
# ---------------- test hooks (py_*): the native functions one by one, for tests against native.reference;
# never called by the node ----------------

def py_is_keyframe(int codec, bytes payload):
    return bool(is_keyframe_c(codec, <const uint8_t *>payload, len(payload)))

def py_rewrite_rtp(bytes data, unsigned int ssrc, int pt, int seq_offset, unsigned int ts_offset,
                   bytes ext_map=b"", int abs_send_out=0, unsigned int abs_send=0, int twcc_out=0,
                   int twcc_seq=0):
    cdef RtpInfo r
    if len(data) > MAX_RTP or parse_rtp_c(<const uint8_t *>data, len(data), &r) != 0:
        return None
    cdef Sub s
    memset(&s, 0, sizeof(Sub))
    s.ssrc = ssrc
    s.pt = pt & 0x7f
    s.seq_offset = <uint16_t>seq_offset
    s.ts_offset = ts_offset
    s.abs_send_out = abs_send_out
    s.twcc_out = twcc_out & 0xff
    cdef int i
    for i in range(min(len(ext_map), EXT_IDS)):
        s.ext_map[i] = ext_map[i]
    cdef uint8_t out[SLOT]
    cdef int n = rewrite_rtp(<const uint8_t *>data, &r, &s, out, abs_send, <uint16_t>twcc_seq)
    return PyBytes_FromStringAndSize(<char *>out, n)

def py_wrap_rtx(bytes data, unsigned int rtx_ssrc, int rtx_pt, int rtx_seq):
    cdef RtpInfo r
    cdef uint8_t out[SLOT]
    if len(data) > MAX_RTP or parse_rtp_c(<const uint8_t *>data, len(data), &r) != 0:
        return None
    cdef Sub s
    memset(&s, 0, sizeof(Sub))
    s.rtx_ssrc = rtx_ssrc
    s.rtx_pt = rtx_pt & 0x7f
    s.rtx_seq = rtx_seq
    memcpy(out, <const char *>data, len(data))
    cdef int n = wrap_rtx(out, len(data), &r, &s)
    return PyBytes_FromStringAndSize(<char *>out, n)

def py_munge_vp8(bytes payload, int pid_offset, int tl0_offset, bint resync=False, int last_pid=0,
                 int last_tl0=0):
    """(rewritten payload, last_pid, last_tl0) — the VP8 descriptor rewrite, for tests against the reference."""
    cdef Sub s
    memset(&s, 0, sizeof(Sub))
    s.pid_offset = pid_offset
    s.tl0_offset = tl0_offset
    s.resync_vp8 = resync
    s.last_pid = last_pid
    s.last_tl0 = last_tl0
    buf = bytearray(payload)
    cdef unsigned char[:] view = buf
    if len(buf):
        munge_vp8(&view[0], len(buf), &s)
    return bytes(buf), s.last_pid, s.last_tl0


cdef class ArrivalLogHook:
    """The engine's per-peer transport-cc arrival log on its own, for tests against native.reference.ArrivalLog."""

    cdef Peer p

    def __cinit__(self):
        memset(&self.p, 0, sizeof(Peer))
        alloc_arrival_log(&self.p)

    def __dealloc__(self):
        free_twcc_logs(&self.p)

    def push(self, int seq, long long arrival_ns):
        arrival_push(&self.p, <uint16_t>seq, arrival_ns)

    def drain(self):
        return arrival_drain(&self.p)

    @property
    def overflow(self):
        return self.p.arr_overflow


def py_parse_vp8(bytes payload):
    """(start, partition, pid, wide, tl0, tid, y, keyidx, hdr_len), -1 for absent fields; None if cut short."""
    cdef Vp8Desc d
    if parse_vp8(<const uint8_t *>payload, len(payload), &d) != 0:
        return None
    return (d.start, d.partition, d.pid, d.wide, d.tl0, d.tid, d.y, d.keyidx, d.hdr_len)


def py_parse_vp9(bytes payload):
    """(flags byte, pid, wide, tid, u, sid, d, tl0, spatial layers in SS or 0, hdr_len); None if malformed."""
    cdef Vp9Desc d
    if parse_vp9(<const uint8_t *>payload, len(payload), &d) != 0:
        return None
    return (d.flags, d.pid, d.wide, d.tid, d.u, d.sid, d.d, d.tl0, d.ns, d.hdr_len)


def py_layer_info(int codec, bytes payload, bint key=False):
    """(layered, tid, sid, pic_start, sync, end, key, pid, ss)"""
    cdef LayerInfo L
    layer_info(codec, <const uint8_t *>payload, len(payload), key, &L)
    return (L.layered, L.tid, L.sid, L.pic_start, L.sync, L.end, L.key, L.pid, L.ss)


def py_filter_stream(int codec, list packets, list caps, list nacks, int initial_seq=1000):
    """One subscription's rewrite of a stream of plaintext RTP packets (no sockets, no SRTP): caps[i] is None
    or (max_sid, max_tid) applied before packets[i]; returns (outputs: rewritten bytes / None when filtered /
    -1 when not started, nack map: input seq or -1 per subscriber seq in `nacks`, after the stream)."""
    cdef Sub *s = <Sub *>calloc(1, sizeof(Sub))
    cdef uint8_t out[SLOT]
    cdef RtpInfo r
    cdef LayerInfo L
    cdef int key, n, i
    cdef uint16_t in_seq = 0
    if s == NULL:
        raise MemoryError()
    try:
        s.used = 1
        s.ssrc = 0x5555
        s.pt = 100
        s.next_seq = initial_seq & 0xffff
        s.need_keyframe = 1
        s.target = -1
        s.max_tid = s.max_sid = s.cur_tid = s.cur_sid = LAYER_ALL
        s.drop_pid = -1
        results = []
        for i in range(len(packets)):
            cap = caps[i] if i < len(caps) else None
            if cap is not None:
                s.max_sid = LAYER_ALL if (cap[0] < 0 or cap[0] > LAYER_ALL) else cap[0]
                s.max_tid = LAYER_ALL if (cap[1] < 0 or cap[1] > LAYER_ALL) else cap[1]
            data = packets[i]
            if len(data) > MAX_RTP or parse_rtp_c(<const uint8_t *>data, len(data), &r) != 0:
                results.append(-1)
                continue
            key = is_keyframe_c(codec, <const uint8_t *>data + r.payload_off, r.payload_len)
            layer_info(codec, <const uint8_t *>data + r.payload_off, r.payload_len, key, &L)
            n = sub_rewrite(s, codec, <uint8_t *>(<const uint8_t *>data), &r, &L, key, out, 0, 0)
            results.append(PyBytes_FromStringAndSize(<char *>out, n) if n > 0 else (None if n == 0 else -1))
        mapped = []
        for seq in nacks:
            mapped.append(in_seq if (s.started and offsets_find_out(s, <uint16_t>(<int>seq), &in_seq) >= 0) else -1)
        return results, mapped
    finally:
        free(s)
