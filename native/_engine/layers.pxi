# Part of native/engine.pyx (one extension module, native.engine), included in the order listed there.
# ---- layer descriptors (reference: native.reference.parse_vp8 / parse_vp9 / layer_info) ----

cdef inline int read_picture_id(const uint8_t *p, int n, int i, int *pid, int *wide) noexcept nogil:
    """The PictureID at p[i], as VP8 and VP9 descriptors share it (M bit: 15 bits, else 7); the offset after it,
    or -1 when the descriptor is cut short."""
    if i >= n:
        return -1
    if p[i] & 0x80:
        if i + 1 >= n:
            return -1
        wide[0] = 1
        pid[0] = ((p[i] & 0x7f) << 8) | p[i + 1]
        return i + 2
    wide[0] = 0
    pid[0] = p[i] & 0x7f
    return i + 1

cdef int parse_vp8(const uint8_t *p, int n, Vp8Desc *d) noexcept nogil:
    """RFC 7741 §4.2 payload descriptor: X R N S R PID | I L T K | M PictureID(7/15) | TL0PICIDX |
    TID(2) Y KEYIDX(5). Absent fields are -1 (offsets 0). Returns 0, or -1 when the descriptor is cut short."""
    cdef int i = 1, x
    if n < 1:
        return -1
    d.start = (p[0] >> 4) & 1
    d.partition = p[0] & 0x07
    d.pid = -1
    d.wide = -1
    d.pid_at = 0
    d.tl0 = -1
    d.tl0_at = 0
    d.tid = -1
    d.y = -1
    d.keyidx = -1
    if p[0] & 0x80:
        if n < 2:
            return -1
        x = p[1]
        i = 2
        if x & 0x80:
            if i >= n:
                return -1
            d.pid_at = i
            i = read_picture_id(p, n, i, &d.pid, &d.wide)
            if i < 0:
                return -1
        if x & 0x40:
            if i >= n:
                return -1
            d.tl0_at = i
            d.tl0 = p[i]
            i += 1
        if x & 0x30:
            if i >= n:
                return -1
            if x & 0x20:
                d.tid = p[i] >> 6
                d.y = (p[i] >> 5) & 1
            if x & 0x10:
                d.keyidx = p[i] & 0x1f
            i += 1
    d.hdr_len = i
    return 0


cdef int parse_vp9(const uint8_t *p, int n, Vp9Desc *d) noexcept nogil:
    """RFC 9628 §4.2 payload descriptor: I P L F B E V Z | M PictureID(7/15) | TID(3) U SID(3) D | TL0PICIDX
    (non-flexible) | P_DIFF N (flexible, P=1, up to 3) | scalability structure (V). Absent fields are -1
    (ns: 0). Returns 0, or -1 when the descriptor is cut short or malformed."""
    cdef int i = 1, b0, k, ns, ng, r
    if n < 1:
        return -1
    b0 = p[0]
    d.flags = b0
    d.pid = -1
    d.wide = -1
    d.tid = -1
    d.u = -1
    d.sid = -1
    d.d = -1
    d.tl0 = -1
    d.ns = 0
    if b0 & 0x80:
        i = read_picture_id(p, n, i, &d.pid, &d.wide)
        if i < 0:
            return -1
    if b0 & 0x20:
        if i >= n:
            return -1
        d.tid = p[i] >> 5
        d.u = (p[i] >> 4) & 1
        d.sid = (p[i] >> 1) & 0x07
        d.d = p[i] & 1
        i += 1
        if not (b0 & 0x10):
            if i >= n:
                return -1
            d.tl0 = p[i]
            i += 1
    if (b0 & 0x10) and (b0 & 0x40):
        k = 0
        while True:
            if i >= n or k == 3:
                return -1
            i += 1
            k += 1
            if not (p[i - 1] & 1):
                break
    if b0 & 0x02:
        if i >= n:
            return -1
        ns = (p[i] >> 5) + 1
        k = p[i]
        i += 1
        if k & 0x10:
            i += 4 * ns
            if i > n:
                return -1
        if k & 0x08:
            if i >= n:
                return -1
            ng = p[i]
            i += 1
            while ng > 0:
                if i >= n:
                    return -1
                r = (p[i] >> 2) & 0x03
                i += 1 + r
                if i > n:
                    return -1
                ng -= 1
        d.ns = ns
    d.hdr_len = i
    return 0


cdef void layer_info(int codec, const uint8_t *p, int n, int key, LayerInfo *L) noexcept nogil:
    """What the layer filter needs to know about one packet; L.layered = 0 for other codecs or a broken
    descriptor (such packets are never filtered)."""
    cdef Vp8Desc v8
    cdef Vp9Desc v9
    L.layered = 0
    L.tid = 0
    L.sid = 0
    L.pic_start = 0
    L.sync = 0
    L.end = 0
    L.key = key
    L.pid = -1
    L.ss = 0
    if codec == CODEC_VP8:
        if parse_vp8(p, n, &v8) != 0:
            return
        L.layered = 1
        if v8.tid >= 0:
            L.tid = v8.tid
            L.sync = v8.y
        L.pic_start = 1 if (v8.start and v8.partition == 0) else 0
        L.pid = v8.pid
    elif codec == CODEC_VP9:
        if parse_vp9(p, n, &v9) != 0:
            return
        L.layered = 1
        if v9.tid >= 0:
            L.tid = v9.tid
            L.sid = v9.sid
            L.sync = v9.u
        L.pic_start = 1 if ((v9.flags & 0x08) and L.sid == 0) else 0
        L.end = 1 if (v9.flags & 0x04) else 0
        L.pid = v9.pid
        L.ss = v9.ns


cdef int layer_admit(Sub *s, int codec, LayerInfo *L, int update, int *marker) noexcept nogil:
    """Whether a subscription forwards this packet under its temporal/spatial caps; 1 or 0. With `update` (the
    packet is the newest seen) the caps in force move: down at a picture start, up to the requested caps at a
    keyframe, or (temporal) at a sync point — VP8: a frame with Y=1 one layer up; VP9: a picture with U=1 at a
    layer already forwarded. Sets marker[0] when the packet ends the highest forwarded VP9 spatial layer."""
    marker[0] = 0
    if not L.layered:
        return 1
    if update and L.pic_start:
        if L.key:
            s.cur_tid = s.max_tid
            s.cur_sid = s.max_sid
        else:
            if s.max_sid < s.cur_sid:
                s.cur_sid = s.max_sid
            if s.max_tid < s.cur_tid:
                s.cur_tid = s.max_tid
            elif s.max_tid > s.cur_tid and L.sync:
                if codec == CODEC_VP8:
                    if L.tid == s.cur_tid + 1:
                        s.cur_tid = L.tid
                elif L.tid <= s.cur_tid:
                    s.cur_tid = s.max_tid
    if L.tid > s.cur_tid or L.sid > s.cur_sid:
        return 0
    if L.end and L.sid == s.cur_sid:
        marker[0] = 1
    return 1


cdef inline void offsets_reset(Sub *s, uint16_t seq) noexcept nogil:
    s.off_head = 0
    s.off_count = 1
    s.off_from[0] = seq
    s.off_seq[0] = s.seq_offset
    s.off_pid[0] = s.pid_offset
    s.max_in = <uint16_t>(seq - 1)
    s.drop_pid = -1


cdef inline void offsets_trail(Sub *s) noexcept nogil:
    """After start_seq moved up: forgets the changes before it and starts the oldest range there, so every
    entry stays within START_WINDOW of the newest packet (16-bit comparisons stay valid). Amortised O(1)."""
    cdef int oldest = (s.off_head - s.off_count + 1) & (OFF_RING - 1)
    cdef int nxt
    while s.off_count > 1:
        nxt = (oldest + 1) & (OFF_RING - 1)
        if <int16_t>(s.off_from[nxt] - s.start_seq) > 0:
            break
        s.off_count -= 1
        oldest = nxt
    if <int16_t>(s.off_from[oldest] - s.start_seq) < 0:
        s.off_from[oldest] = s.start_seq


cdef inline void note_drop(Sub *s, int codec, uint16_t seq, LayerInfo *L) noexcept nogil:
    """A new packet is filtered: later packets move down one seq (no gap), and a VP8 picture dropped for the
    first time frees its picture id. The change is recorded for NACK mapping and late packets."""
    cdef int h = s.off_head
    s.max_in = seq
    if codec == CODEC_VP8 and L.pid >= 0 and L.pid != s.drop_pid:
        s.pid_offset = <uint16_t>(s.pid_offset - 1)
        s.drop_pid = L.pid
    s.seq_offset = <uint16_t>(s.seq_offset - 1)
    if s.off_from[h] != seq:         # else nothing went out in the newest range yet: it just starts later
        h = (h + 1) & (OFF_RING - 1)
        s.off_head = h
        if s.off_count < OFF_RING:
            s.off_count += 1
    s.off_from[h] = <uint16_t>(seq + 1)
    s.off_seq[h] = s.seq_offset
    s.off_pid[h] = s.pid_offset


cdef inline int offsets_find_in(Sub *s, uint16_t seq) noexcept nogil:
    """The ring entry an (older) input seq went out under, or -1 when it is older than the ring."""
    cdef int j, k
    for j in range(s.off_count):
        k = (s.off_head - j) & (OFF_RING - 1)
        if <int16_t>(seq - s.off_from[k]) >= 0:
            return k
    return -1


cdef inline int offsets_find_out(Sub *s, uint16_t out, uint16_t *in_seq) noexcept nogil:
    """Maps a subscriber seq back to the input seq it was sent as (the entry index), or -1: older than the
    ring, not sent yet, or a seq that belongs to no input (cannot happen: drops leave no gaps)."""
    cdef int j, k
    cdef uint16_t i
    for j in range(s.off_count):
        k = (s.off_head - j) & (OFF_RING - 1)
        i = <uint16_t>(out - s.off_seq[k])
        if <int16_t>(i - s.off_from[k]) >= 0:
            if <int16_t>(i - s.max_in) > 0:
                return -1
            in_seq[0] = i
            return k
    return -1


cdef void vp8_set_ids(uint8_t *p, int n, uint16_t pid_offset, uint8_t tl0_offset) noexcept nogil:
    """munge_vp8 with given offsets and no state: for late packets and retransmissions."""
    cdef Vp8Desc d
    cdef uint16_t out
    if parse_vp8(p, n, &d) != 0:
        return
    if d.pid >= 0:
        out = <uint16_t>(d.pid + pid_offset) & (0x7fff if d.wide else 0x7f)
        if d.wide:
            p[d.pid_at] = 0x80 | (out >> 8)
            p[d.pid_at + 1] = out & 0xff
        else:
            p[d.pid_at] = <uint8_t>out
    if d.tl0 >= 0:
        p[d.tl0_at] = <uint8_t>(d.tl0 + tl0_offset)
