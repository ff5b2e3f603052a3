# Part of native/engine.pyx (one extension module, native.engine), included in the order listed there.
# ---- per-subscriber rewrite (reference: native.reference.rewrite_rtp) ----
cdef int rewrite_rtp(const uint8_t *src, RtpInfo *r, Sub *s, uint8_t *dst, uint32_t abs_send,
                     uint16_t twcc_seq) noexcept nogil:
    """Writes the subscriber's view of the packet into dst; returns its length. With s.twcc_out (1..14) the
    node's transport-wide sequence number `twcc_seq` is added as the block's last element (a one-byte block is
    created when the source has none)."""
    cdef int off = r.hdr_len
    cdef uint16_t seq = <uint16_t>(r.seq + s.seq_offset)
    cdef uint32_t ts = r.ts + s.ts_offset
    dst[0] = src[0] & 0xef                  # X cleared; set again if an extension survives
    dst[1] = (src[1] & 0x80) | s.pt
    wr16(dst + 2, seq)
    wr32(dst + 4, ts)
    wr32(dst + 8, s.ssrc)
    if off > 12:
        memcpy(dst + 12, src + 12, off - 12)
    cdef int o = off
    cdef int i, end, eid, elen, oid, start, written
    cdef int two = r.ext_profile >= 0 and (r.ext_profile & 0xfff0) == 0x1000
    cdef int twcc = s.twcc_out if s.twcc_out < 15 else 0
    if r.ext_profile == 0xBEDE or two or twcc:
        start = o
        o += 4
        written = 0
        i = r.ext_off
        end = r.ext_off + r.ext_len
        if r.ext_profile != 0xBEDE and not two:
            end = i                          # another profile: only the node's own element is written
        while i < end:
            if src[i] == 0:
                i += 1
                continue
            if r.ext_profile == 0xBEDE:
                eid = src[i] >> 4
                elen = (src[i] & 0x0f) + 1
                if eid == 15 or i + 1 + elen > end:
                    break
                # ID 0 with a length (not a padding byte) is never negotiated, so never forwarded (reference)
                oid = s.ext_map[eid] if eid != 0 else 0
                if oid != 0 and oid < 15 and oid != twcc:
                    dst[o] = (oid << 4) | (elen - 1)
                    if oid == s.abs_send_out and elen == 3:
                        dst[o + 1] = (abs_send >> 16) & 0xff
                        dst[o + 2] = (abs_send >> 8) & 0xff
                        dst[o + 3] = abs_send & 0xff
                    else:
                        memcpy(dst + o + 1, src + i + 1, elen)
                    o += 1 + elen
                    written += 1
                i += 1 + elen
            else:
                if i + 2 > end:
                    break
                eid = src[i]
                elen = src[i + 1]
                if i + 2 + elen > end:
                    break
                oid = s.ext_map[eid]
                if oid != 0 and oid != twcc:
                    dst[o] = oid
                    dst[o + 1] = elen
                    if oid == s.abs_send_out and elen == 3:
                        dst[o + 2] = (abs_send >> 16) & 0xff
                        dst[o + 3] = (abs_send >> 8) & 0xff
                        dst[o + 4] = abs_send & 0xff
                    else:
                        memcpy(dst + o + 2, src + i + 2, elen)
                    o += 2 + elen
                    written += 1
                i += 2 + elen
        if twcc:
            if two:
                dst[o] = twcc
                dst[o + 1] = 2
                wr16(dst + o + 2, twcc_seq)
                o += 4
            else:
                dst[o] = (twcc << 4) | 1
                wr16(dst + o + 1, twcc_seq)
                o += 3
            written += 1
        if written == 0:
            o = start
        else:
            while (o - start) & 3:
                dst[o] = 0
                o += 1
            wr16(dst + start, r.ext_profile if two else 0xBEDE)
            wr16(dst + start + 2, <uint16_t>((o - start - 4) // 4))
            dst[0] |= 0x10
    cdef int plen = r.payload_len + r.pad_len
    memcpy(dst + o, src + r.payload_off, plen)
    return o + plen

cdef int wrap_rtx(uint8_t *pkt, int n, RtpInfo *r, Sub *s) noexcept nogil:
    """Turns a rewritten packet into its RFC 4588 retransmission in place; returns the new length."""
    # the rewritten header is parsed again: its extension block length may differ from the source's
    cdef RtpInfo w
    if parse_rtp_c(pkt, n, &w) != 0:
        return -1
    cdef uint16_t osn = w.seq
    cdef int plen = n - w.payload_off
    memmove_c(pkt + w.payload_off + 2, pkt + w.payload_off, plen)
    wr16(pkt + w.payload_off, osn)
    pkt[1] = (pkt[1] & 0x80) | s.rtx_pt
    wr16(pkt + 2, s.rtx_seq)
    s.rtx_seq = <uint16_t>(s.rtx_seq + 1)
    wr32(pkt + 8, s.rtx_ssrc)
    return n + 2

cdef extern from "<string.h>" nogil:
    void *memmove_c "memmove" (void *, const void *, size_t)


cdef inline uint32_t abs_send_time(int64_t ns) noexcept nogil:
    # 6.18 fixed-point seconds, 24 bits
    cdef uint64_t r = <uint64_t>ns % 64000000000ULL      # seconds mod 64 first: the shift cannot overflow
    return <uint32_t>((r << 18) // 1000000000ULL) & 0xffffff


# ---- VP8 PictureID / TL0PICIDX continuity (reference: native.reference.munge_vp8) ----
cdef void munge_vp8(uint8_t *p, int n, Sub *s) noexcept nogil:
    """Rewrites the VP8 payload descriptor's PictureID and TL0PICIDX (RFC 7741) so they continue across layer
    switches. The descriptor is outside any end-to-end encrypted frame, so this works under E2EE too."""
    if n < 1 or not (p[0] & 0x80):
        return
    if n < 2:
        return
    cdef int i = 2
    cdef int has_pid = p[1] & 0x80
    cdef int has_tl0 = p[1] & 0x40
    cdef int wide = 0
    cdef uint16_t pid = 0, out_pid
    cdef uint8_t tl0, out_tl0
    if has_pid:
        if i >= n:
            return
        wide = p[i] & 0x80
        if wide:
            if i + 1 >= n:
                return
            pid = ((p[i] & 0x7f) << 8) | p[i + 1]
        else:
            pid = p[i] & 0x7f
        if s.resync_vp8:
            s.pid_offset = <uint16_t>(s.last_pid + 1 - pid)
        out_pid = <uint16_t>(pid + s.pid_offset) & (0x7fff if wide else 0x7f)
        if wide:
            p[i] = 0x80 | (out_pid >> 8)
            p[i + 1] = out_pid & 0xff
            i += 2
        else:
            p[i] = out_pid
            i += 1
        s.last_pid = out_pid
    if has_tl0:
        if i >= n:
            return
        tl0 = p[i]
        if s.resync_vp8:
            s.tl0_offset = <uint8_t>(s.last_tl0 + 1 - tl0)
        out_tl0 = <uint8_t>(tl0 + s.tl0_offset)
        p[i] = out_tl0
        s.last_tl0 = out_tl0
    s.resync_vp8 = 0
