# Part of native/engine.pyx (one extension module, native.engine), included in the order listed there.
# ---- keyframe detection on the (possibly E2EE) payload; the bytes read are left clear by the client ----
cdef int is_keyframe_c(int codec, const uint8_t *p, int n) noexcept nogil:
    cdef int i, x, s, pid, sid, nal, typ, l
    if codec == CODEC_OPUS or codec == CODEC_OTHER:
        return 1
    if n < 1:
        return 0
    if codec == CODEC_VP8:
        # RFC 7741 payload descriptor, then the VP8 payload header: P bit (bit 0) == 0 means keyframe
        x = p[0] & 0x80
        s = p[0] & 0x10
        pid = p[0] & 0x07
        i = 1
        if x:
            if n < 2:
                return 0
            i = 2
            if p[1] & 0x80:
                if n < 3:
                    return 0
                i += 2 if (p[2] & 0x80) else 1
            if p[1] & 0x40:
                i += 1
            if p[1] & 0x30:
                i += 1
        if i >= n:
            return 0
        return 1 if (s and pid == 0 and not (p[i] & 0x01)) else 0
    if codec == CODEC_VP9:
        # descriptor I P L F B E V Z: a keyframe starts a frame (B) that is not inter-predicted (!P) at SID 0
        if (p[0] & 0x40) or not (p[0] & 0x08):
            return 0
        i = 1
        if p[0] & 0x80:
            if n < 2:
                return 0
            i += 2 if (p[1] & 0x80) else 1
        if p[0] & 0x20:
            if i >= n:
                return 0
            sid = (p[i] >> 1) & 0x07
            return 1 if sid == 0 else 0
        return 1
    if codec == CODEC_H264:
        nal = p[0] & 0x1f
        if nal == 7 or nal == 5:
            return 1
        if nal == 24:          # STAP-A: walk the aggregated NAL units
            i = 1
            while i + 2 < n:
                l = rd16(p + i)
                if l == 0 or i + 2 + l > n:
                    return 0
                typ = p[i + 2] & 0x1f
                if typ == 7 or typ == 5:
                    return 1
                i += 2 + l
            return 0
        if nal == 28 or nal == 29:   # FU-A/B: only the start fragment counts
            if n < 2:
                return 0
            typ = p[1] & 0x1f
            return 1 if ((p[1] & 0x80) and (typ == 7 or typ == 5)) else 0
        return 0
    return 0
