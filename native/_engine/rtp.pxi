# Part of native/engine.pyx (one extension module, native.engine), included in the order listed there.
# ---- RTP parsing (reference: native.reference.parse_rtp) ----
cdef int parse_rtp_c(const uint8_t *p, int n, RtpInfo *r) noexcept nogil:
    """Returns 0, or -1 if the packet is not well-formed RTP."""
    if n < 12 or (p[0] >> 6) != 2:
        return -1
    cdef int cc = p[0] & 0x0f
    cdef int off = 12 + 4 * cc
    if off > n:
        return -1
    r.hdr_len = off
    r.pt = p[1] & 0x7f
    r.marker = p[1] >> 7
    r.seq = rd16(p + 2)
    r.ts = rd32(p + 4)
    r.ssrc = rd32(p + 8)
    r.ext_profile = -1
    r.ext_off = 0
    r.ext_len = 0
    cdef int elen
    if p[0] & 0x10:
        if off + 4 > n:
            return -1
        r.ext_profile = rd16(p + off)
        elen = 4 * rd16(p + off + 2)
        r.ext_off = off + 4
        r.ext_len = elen
        off = off + 4 + elen
        if off > n:
            return -1
    cdef int pad = 0
    if p[0] & 0x20:
        pad = p[n - 1]
        if pad == 0 or off + pad > n:
            return -1
    r.pad_len = pad
    r.payload_off = off
    r.payload_len = n - off - pad
    return 0

cdef int find_ext(const uint8_t *p, RtpInfo *r, int want_id, int *val_off) noexcept nogil:
    """Finds extension element `want_id`; returns its length and sets val_off, or -1."""
    if r.ext_profile < 0 or want_id == 0:
        return -1
    cdef int i = r.ext_off
    cdef int end = r.ext_off + r.ext_len
    cdef int eid, elen
    if r.ext_profile == 0xBEDE:
        while i < end:
            if p[i] == 0:
                i += 1
                continue
            eid = p[i] >> 4
            elen = (p[i] & 0x0f) + 1
            if eid == 15:
                return -1
            if i + 1 + elen > end:
                return -1
            if eid == want_id:
                val_off[0] = i + 1
                return elen
            i += 1 + elen
    elif (r.ext_profile & 0xfff0) == 0x1000:
        while i < end:
            if p[i] == 0:
                i += 1
                continue
            if i + 2 > end:
                return -1
            eid = p[i]
            elen = p[i + 1]
            if i + 2 + elen > end:
                return -1
            if eid == want_id:
                val_off[0] = i + 2
                return elen
            i += 2 + elen
    return -1
