# Part of native/engine.pyx (one extension module, native.engine), included in the order listed there.
# ---------------- public functions: the engine's RTP parsing, for the node (and tests) ----------------

def parse_rtp(bytes data):
    """The RTP header fields as the engine reads them: (pt, marker, seq, ts, ssrc, hdr_len, ext_profile,
    ext_off, ext_len, payload_off, payload_len, pad_len), or None when the packet is not well-formed.
    ext_profile is -1 without an extension block. Reference: native.reference.parse_rtp."""
    cdef RtpInfo r
    if parse_rtp_c(<const uint8_t *>data, len(data), &r) != 0:
        return None
    return (r.pt, r.marker, r.seq, r.ts, r.ssrc, r.hdr_len, r.ext_profile, r.ext_off, r.ext_len,
            r.payload_off, r.payload_len, r.pad_len)


def find_extension(bytes data, int ext_id):
    """The value of header extension `ext_id` (RFC 8285, one- or two-byte form) in an RTP packet, or None when
    the packet is not well-formed or does not carry it. Reference: native.reference.find_extension."""
    cdef RtpInfo r
    cdef int off = 0
    if parse_rtp_c(<const uint8_t *>data, len(data), &r) != 0:
        return None
    cdef int l = find_ext(<const uint8_t *>data, &r, ext_id, &off)
    if l < 0:
        return None
    return data[off:off + l]


def srtp_version():
    """libsrtp's version string (the library the engine is linked with)."""
    return srtp_get_version_string().decode()
