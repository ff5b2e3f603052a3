# Part of native/engine.pyx (one extension module, native.engine), included in the order listed there.
# ---- one subscription: its place in a track's lists, and its rewrite of one packet (layer filter,
# sequence/picture-id continuity, header rewrite; reference: native.reference.LayerSub.rewrite) ----

cdef void _unlink(Sub *subs, int *head, int idx, int pending) noexcept nogil:
    """Removes subscription idx from a track's list (pending: the waiting-to-switch list)."""
    cdef int i = head[0]
    cdef int prev = -1
    cdef int nxt
    while i >= 0:
        nxt = subs[i].next_pending if pending else subs[i].next
        if i == idx:
            if prev < 0:
                head[0] = nxt
            elif pending:
                subs[prev].next_pending = nxt
            else:
                subs[prev].next = nxt
            return
        prev = i
        i = nxt


cdef int sub_rewrite(Sub *s, int codec, uint8_t *p, RtpInfo *r, LayerInfo *L, int key, uint8_t *dst,
                     uint32_t abs_send, uint16_t twcc_seq) noexcept nogil:
    """The subscription's copy of a packet into dst (before SRTP): its length; 0 when the layer filter drops
    it (seq offset adjusted, no gap); -1 while waiting for a keyframe or for a packet older than the start."""
    cdef int out_len, late, k, marker = 0
    cdef uint16_t seq_off, pid_off, out_seq
    if not s.started:
        if s.need_keyframe and not key:
            return -1
        s.started = 1
        s.need_keyframe = 0
        s.seq_offset = <uint16_t>(s.next_seq - r.seq)
        s.start_seq = r.seq
        offsets_reset(s, r.seq)
    elif <int16_t>(r.seq - s.start_seq) < 0:
        return -1
    if <uint16_t>(r.seq - s.start_seq) > START_WINDOW:   # trail the newest, stay in the half window
        s.start_seq = <uint16_t>(r.seq - START_WINDOW)
        offsets_trail(s)
    late = <int16_t>(r.seq - s.max_in) <= 0
    if not layer_admit(s, codec, L, not late, &marker):
        s.filtered += 1
        if not late:
            note_drop(s, codec, r.seq, L)
        return 0
    if not late:
        s.max_in = r.seq
    seq_off = s.seq_offset
    k = -1
    if <int16_t>(r.seq - s.off_from[s.off_head]) < 0:     # sent before the latest drop: its own offsets
        k = offsets_find_in(s, r.seq)
        if k < 0:
            return -1
        seq_off = s.off_seq[k]
    out_len = rewrite_rtp(p, r, s, dst, abs_send, twcc_seq)
    out_seq = <uint16_t>(r.seq + seq_off)
    if k >= 0:
        wr16(dst + 2, out_seq)
    if marker:
        dst[1] |= 0x80
    if codec == CODEC_VP8:
        if k >= 0:
            vp8_set_ids(dst + out_len - r.payload_len - r.pad_len, r.payload_len, s.off_pid[k], s.tl0_offset)
        else:
            munge_vp8(dst + out_len - r.payload_len - r.pad_len, r.payload_len, s)
            s.off_pid[s.off_head] = s.pid_offset
    if <int16_t>(out_seq - s.next_seq) >= 0:
        s.next_seq = <uint16_t>(out_seq + 1)
        s.last_out_ts = r.ts + s.ts_offset
    return out_len


# ---- the big per-track and per-subscription packet buffers: their own mappings, never malloc. glibc serves a
# request above its mmap threshold with mmap only until the first such block is freed, then raises the threshold
# to that size: every later 1 MiB track ring and 512 KiB sent ring came from the heap, and a freed one behind
# a live allocation stayed resident. The soak's node RSS grew in steps per publisher session that way (issue
# 18). A mapping goes back to the kernel on munmap, and its untouched pages never become resident. ----

cdef uint8_t *map_buffer(size_t n) noexcept nogil:
    """n bytes of zeroed, page-aligned memory of their own, or NULL."""
    cdef void *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    return NULL if m == MAP_FAILED else <uint8_t *>m


cdef void unmap_buffer(uint8_t *m, size_t n) noexcept nogil:
    if m != NULL:
        munmap(m, n)


# ---- what a subscription without RTX sent: kept byte for byte, re-sent as is on a NACK ----

cdef int alloc_sent_ring(Sub *s) noexcept nogil:
    """0, or -1 when out of memory (nothing allocated)."""
    s.sent_buf = map_buffer(SENT_RING * SLOT)
    s.sent_len = <uint16_t *>calloc(SENT_RING, sizeof(uint16_t))
    s.sent_seq = <uint16_t *>calloc(SENT_RING, sizeof(uint16_t))
    if s.sent_buf == NULL or s.sent_len == NULL or s.sent_seq == NULL:
        free_sent_ring(s)
        return -1
    return 0


cdef void free_sent_ring(Sub *s) noexcept nogil:
    unmap_buffer(s.sent_buf, SENT_RING * SLOT)
    free(s.sent_len); free(s.sent_seq)
    s.sent_buf = NULL
    s.sent_len = NULL
    s.sent_seq = NULL


cdef inline void keep_sent(Sub *s, const uint8_t *pkt, int n) noexcept nogil:
    """Keeps a protected packet (n <= SLOT) under its sequence number."""
    cdef uint16_t seq = rd16(pkt + 2)
    cdef int i = seq & (SENT_RING - 1)
    memcpy(s.sent_buf + i * SLOT, pkt, n)
    s.sent_len[i] = <uint16_t>n
    s.sent_seq[i] = seq


cdef inline int find_sent(Sub *s, uint16_t seq) noexcept nogil:
    """The sent-ring slot holding what went out as `seq`, or -1."""
    cdef int i = seq & (SENT_RING - 1)
    if s.sent_buf == NULL or s.sent_len[i] == 0 or s.sent_seq[i] != seq:
        return -1
    return i
