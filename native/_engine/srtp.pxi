# Part of native/engine.pyx (one extension module, native.engine), included in the order listed there.
# ---------------- SRTP helpers ----------------

cdef int _srtp_ready = 0

cdef void _init_srtp():
    global _srtp_ready
    if not _srtp_ready:
        if srtp_init() != 0:
            raise RuntimeError("srtp_init failed")
        _srtp_ready = 1

cdef srtp_t _new_session(int profile, bytes key, int ssrc_type) except NULL:
    cdef srtp_policy_t pol
    cdef srtp_t s = NULL
    cdef int need
    if profile == 1:
        need = 30
    elif profile == 7:
        need = 28
    elif profile == 8:
        need = 44
    else:
        raise ValueError(f"unsupported SRTP profile {profile}")
    if len(key) != need:
        raise ValueError(f"SRTP key for profile {profile} must be {need} bytes, got {len(key)}")
    memset(&pol, 0, sizeof(pol))
    srtp_crypto_policy_set_from_profile_for_rtp(&pol.rtp, profile)
    srtp_crypto_policy_set_from_profile_for_rtcp(&pol.rtcp, profile)
    pol.ssrc.type = ssrc_type
    pol.key = <unsigned char *>key
    # a wide replay window both ways: inbound it tolerates reordering; outbound, libsrtp refuses to protect a
    # packet older than the window, and the forwarder does send late packets (reordered on the publisher's
    # uplink, or repaired by its RTX), so with 64 one more than 64 behind the newest was dropped (send_failed)
    # where native.reference forwards it (found by fuzzing: tests/fuzz/engine_path)
    pol.window_size = 1024
    # never protect one SRTP index twice: with other bytes that reuses the AES-GCM nonce (or AES-CM keystream).
    # The engine re-sends a NACKed packet without RTX as the bytes it sent, and RTX gets a fresh index; so a
    # repeat is a bug, which libsrtp now refuses (the packet is then a counted send_failed drop)
    pol.allow_repeat_tx = 0
    if srtp_create(&s, &pol) != 0:
        raise RuntimeError("srtp_create failed")
    return s


cdef class SrtpSession:
    """One direction of SRTP for tests, bots and the benchmark floor (the same libsrtp the engine uses)."""

    cdef srtp_t s
    cdef uint8_t buf[SLOT]

    def __cinit__(self, int profile, bytes key, bint outbound):
        _init_srtp()
        self.s = _new_session(profile, key, 3 if outbound else 2)

    def __dealloc__(self):
        if self.s != NULL:
            srtp_dealloc(self.s)

    def protect(self, bytes rtp):
        cdef int n = len(rtp)
        if n > MAX_RTP:
            raise ValueError("packet too large")
        memcpy(self.buf, <const char *>rtp, n)
        if srtp_protect(self.s, self.buf, &n) != 0:
            raise ValueError("srtp_protect failed")
        return PyBytes_FromStringAndSize(<char *>self.buf, n)

    def unprotect(self, bytes srtp):
        cdef int n = len(srtp)
        if n > SLOT - 16:
            raise ValueError("packet too large")
        memcpy(self.buf, <const char *>srtp, n)
        cdef int st = srtp_unprotect(self.s, self.buf, &n)
        if st != 0:
            raise ValueError(f"srtp_unprotect failed ({st})")
        return PyBytes_FromStringAndSize(<char *>self.buf, n)

    def protect_rtcp(self, bytes rtcp):
        cdef int n = len(rtcp)
        if n > MAX_RTP:
            raise ValueError("packet too large")
        memcpy(self.buf, <const char *>rtcp, n)
        if srtp_protect_rtcp(self.s, self.buf, &n) != 0:
            raise ValueError("srtp_protect_rtcp failed")
        return PyBytes_FromStringAndSize(<char *>self.buf, n)

    def unprotect_rtcp(self, bytes srtcp):
        cdef int n = len(srtcp)
        if n > SLOT - 16:
            raise ValueError("packet too large")
        memcpy(self.buf, <const char *>srtcp, n)
        cdef int st = srtp_unprotect_rtcp(self.s, self.buf, &n)
        if st != 0:
            raise ValueError(f"srtp_unprotect_rtcp failed ({st})")
        return PyBytes_FromStringAndSize(<char *>self.buf, n)
