# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Castellan's media engine: the per-packet path, in C through Cython.

The engine owns the node's one UDP socket. `poll()` receives a batch with recvmmsg, classifies each datagram by
its first byte (RFC 7983), and for SRTP from a known peer does: unprotect -> parse -> look up the track ->
for each subscription rewrite + protect into a send batch -> sendmmsg. Everything Python must decide on (STUN,
DTLS, RTCP, RTP with an SSRC nobody announced) is handed back as events, once per batch. Python updates the
tables (peers, tracks, subscriptions) through the methods below; the per-packet loop never touches a Python
object and runs with the GIL released.

Transport-wide congestion control: from a peer with a transport-wide-cc id (set_peer_extensions), each packet's
transport seq and arrival go into a bounded per-peer log that Python drains (twcc_arrivals) to send feedback.
To a subscription with twcc_out, every packet (media, RTX, send_padding probes) gets the peer's next transport
seq, and a per-peer send log keeps its size and the time sendmmsg took it, for twcc_sent() when the
subscriber's feedback arrives. Both logs are fixed-size rings, allocated once per peer that uses them.

`native/reference.py` holds the pure-Python reference of each function here; tests compare the two.
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t, int32_t, int16_t
from libc.string cimport memcpy, memset
from libc.stdlib cimport calloc, free, malloc
from libc.errno cimport errno, EINTR
from cpython.bytes cimport PyBytes_FromStringAndSize

cdef extern from "<time.h>" nogil:
    ctypedef long time_t
    struct timespec:
        time_t tv_sec
        long tv_nsec
    int clock_gettime(int, timespec *)
    int CLOCK_REALTIME
    int CLOCK_MONOTONIC

cdef extern from "<sys/uio.h>" nogil:
    struct iovec:
        void *iov_base
        size_t iov_len

cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    struct sockaddr:
        unsigned short sa_family
    struct sockaddr_storage:
        unsigned short ss_family
    struct msghdr:
        void *msg_name
        socklen_t msg_namelen
        iovec *msg_iov
        size_t msg_iovlen
        void *msg_control
        size_t msg_controllen
        int msg_flags
    struct mmsghdr:
        msghdr msg_hdr
        unsigned int msg_len
    struct cmsghdr:
        size_t cmsg_len
        int cmsg_level
        int cmsg_type
    cmsghdr *CMSG_FIRSTHDR(msghdr *)
    cmsghdr *CMSG_NXTHDR(msghdr *, cmsghdr *)
    unsigned char *CMSG_DATA(cmsghdr *)
    int recvmmsg(int, mmsghdr *, unsigned int, int, timespec *)
    int sendmmsg(int, mmsghdr *, unsigned int, int)
    ssize_t sendto(int, const void *, size_t, int, const sockaddr *, socklen_t)
    int setsockopt(int, int, int, const void *, socklen_t)
    int SOL_SOCKET
    int SO_TIMESTAMPNS
    int SCM_TIMESTAMPNS
    int MSG_DONTWAIT
    int AF_INET
    int AF_INET6

cdef extern from "<netinet/in.h>" nogil:
    struct in_addr:
        uint32_t s_addr
    struct sockaddr_in:
        unsigned short sin_family
        uint16_t sin_port
        in_addr sin_addr
    struct in6_addr:
        unsigned char s6_addr[16]
    struct sockaddr_in6:
        unsigned short sin6_family
        uint16_t sin6_port
        uint32_t sin6_flowinfo
        in6_addr sin6_addr
        uint32_t sin6_scope_id

cdef extern from "<arpa/inet.h>" nogil:
    int inet_pton(int, const char *, void *)
    const char *inet_ntop(int, const void *, char *, socklen_t)

cdef extern from "<pthread.h>" nogil:
    ctypedef struct pthread_mutex_t:
        pass
    ctypedef struct pthread_mutexattr_t:
        pass
    int PTHREAD_MUTEX_RECURSIVE
    int pthread_mutexattr_init(pthread_mutexattr_t *)
    int pthread_mutexattr_settype(pthread_mutexattr_t *, int)
    int pthread_mutex_init(pthread_mutex_t *, const pthread_mutexattr_t *)
    int pthread_mutex_lock(pthread_mutex_t *)
    int pthread_mutex_unlock(pthread_mutex_t *)
    int pthread_mutex_destroy(pthread_mutex_t *)

cdef extern from "<poll.h>" nogil:
    struct pollfd:
        int fd
        short events
        short revents
    int c_poll "poll" (pollfd *, unsigned long, int)
    short POLLIN

cdef extern from "srtp2/srtp.h" nogil:
    ctypedef int srtp_err_status_t
    ctypedef struct srtp_ctx_t_:
        pass
    ctypedef srtp_ctx_t_ *srtp_t
    ctypedef int srtp_ssrc_type_t
    ctypedef struct srtp_ssrc_t:
        srtp_ssrc_type_t type
        unsigned int value
    ctypedef struct srtp_crypto_policy_t:
        pass
    ctypedef struct srtp_policy_t:
        srtp_ssrc_t ssrc
        srtp_crypto_policy_t rtp
        srtp_crypto_policy_t rtcp
        unsigned char *key
        unsigned long window_size
        int allow_repeat_tx
    ctypedef int srtp_profile_t
    srtp_err_status_t srtp_init()
    srtp_err_status_t srtp_create(srtp_t *session, const srtp_policy_t *policy)
    srtp_err_status_t srtp_dealloc(srtp_t session)
    srtp_err_status_t srtp_protect(srtp_t ctx, void *rtp_hdr, int *len_ptr)
    srtp_err_status_t srtp_unprotect(srtp_t ctx, void *srtp_hdr, int *len_ptr)
    srtp_err_status_t srtp_protect_rtcp(srtp_t ctx, void *rtcp_hdr, int *pkt_octet_len)
    srtp_err_status_t srtp_unprotect_rtcp(srtp_t ctx, void *srtcp_hdr, int *pkt_octet_len)
    srtp_err_status_t srtp_crypto_policy_set_from_profile_for_rtp(srtp_crypto_policy_t *p, srtp_profile_t prof)
    srtp_err_status_t srtp_crypto_policy_set_from_profile_for_rtcp(srtp_crypto_policy_t *p, srtp_profile_t prof)
    const char *srtp_get_version_string()

# ---- shared constants: CODEC_*, EV_*, MAX_RTP, LAYER_ALL, OFF_RING, START_WINDOW, ARRIVAL_LOG_SIZE,
# SEND_LOG_SIZE, HIST_BUCKETS as C enum values, generated by setup.py from native/constants.py ----
include "_engine/constants.pxi"

# the same names as Python values (native.engine.CODEC_VP8, DROP_REASONS, ...), from their one definition;
# each integer is also a C enum constant above, so it is set through the module's dict, not as a Cython name
from native import constants as _constants
DROP_REASONS = _constants.DROP_REASONS
globals().update({name: getattr(_constants, name) for name in _constants.__all__ if name != "DROP_REASONS"})

cdef _check_built_constants():
    for name, value in _BUILT_CONSTANTS.items():
        if getattr(_constants, name) != value:
            raise ImportError(f"native.engine was built with {name} = {value}, native/constants.py now says "
                              f"{getattr(_constants, name)}: rebuild it (setup.py build_ext --inplace)")

_check_built_constants()

# ---- sizes (the engine's own) ----
cdef enum:
    RX_BATCH = 64
    SLOT = 2048              # bytes per packet buffer (MTU-sized packets + SRTP trailer + slack)
    TX_SLOTS = 256
    FLUSH_AT = 32            # flush after an input packet once this many copies are queued
    EV_MAX = 256             # control datagrams handed to Python per batch
    EXT_IDS = 256
    MAX_PADDING = 255        # bytes of RTP padding in one probe packet (the count is one byte)
    SID_MAX = 8

# ---- drop reasons: index into DROP_REASONS (native/constants.py) ----
cdef enum:
    D_MALFORMED = 0
    D_UNKNOWN_ADDR = 1
    D_SRTP_AUTH = 2
    D_SRTP_REPLAY = 3
    D_UNKNOWN_SSRC = 4
    D_NOT_READY = 5
    D_SEND_FAILED = 6
    D_EVENT_OVERFLOW = 7
    D_TOO_BIG = 8
    D_NOT_STARTED = 9
    D_SRTCP_AUTH = 10
    D_UNCLASSIFIED = 11
    D_COUNT = 12

if len(DROP_REASONS) != D_COUNT:
    raise ImportError("DROP_REASONS (native/constants.py) and the engine's D_* indices disagree")

cdef struct Peer:
    int used
    int has_addr
    int ready
    sockaddr_storage addr
    socklen_t addrlen
    uint64_t key_a
    uint64_t key_b
    srtp_t rx
    srtp_t tx
    uint8_t abs_send_id          # publisher-side extension ids (BUNDLE-wide)
    uint8_t audio_level_id
    uint8_t twcc_id              # the transport-wide sequence number this peer stamps on what it sends
    uint64_t rx_packets
    uint64_t tx_packets
    # transport-cc, receive side: (transport seq, arrival) of what this peer sent, until Python drains it
    uint16_t *arr_seq
    int64_t *arr_ns
    uint32_t arr_head            # entries written (mod 2^32)
    uint32_t arr_tail            # entries drained
    uint64_t arr_overflow
    # transport-cc, send side: the node's transport seq on what it sends to this peer, and a log of them
    uint16_t twcc_next
    uint16_t *snd_seq
    int64_t *snd_ns
    uint16_t *snd_size
    uint64_t twcc_sent

cdef struct Track:
    int used
    int peer
    uint32_t ssrc
    int codec
    int first_sub
    int first_pending            # subscriptions waiting for this layer's keyframe to switch onto it
    uint32_t clock_rate
    uint8_t *ring                # retransmission buffer of plaintext packets, indexed by seq & mask
    uint16_t *ring_len
    uint16_t *ring_seq
    int ring_mask
    int seq_init
    uint16_t max_seq
    uint32_t cycles
    uint32_t base_seq
    uint64_t received
    uint64_t octets
    int64_t jitter_q4            # RFC 3550 A.8, scaled by 16
    int64_t last_transit
    uint64_t keyframes
    int64_t last_keyframe_ns
    uint32_t last_ts
    int64_t last_arrival_ns
    int64_t first_arrival_ns     # jitter works on arrival - first_arrival, so µs * clock_rate cannot overflow
    int audio_level              # last RFC 6464 level (0..127, -dBov), -1 if none
    int voice
    uint64_t loudness_sum        # sum of (127 - level) over packets since the last audio_activity() read
    uint32_t level_count
    uint32_t voice_count
    int max_tid_seen             # VP8/VP9 layer indices seen in this track's descriptors (-1: none yet)
    int max_sid_seen
    int ss_layers                # VP9 scalability structure: spatial layers announced (0: none seen)
    uint64_t sid_octets[SID_MAX] # payload octets per spatial layer (VP9 SVC), for per-layer bitrates

cdef struct Sub:
    int used
    int track
    int peer
    int next
    uint32_t ssrc
    uint8_t pt
    uint32_t rtx_ssrc
    uint8_t rtx_pt
    uint16_t rtx_seq
    int started
    int need_keyframe
    int paused                   # last-N / unwatched: not forwarded, and resumed at a keyframe
    int target                   # simulcast: the layer (track) to switch to at its next keyframe, or -1
    int next_pending             # link in the target layer's list of waiting subscriptions
    int resync_vp8               # after a switch: continue VP8 picture id / TL0PICIDX from the last sent
    uint16_t pid_offset
    uint8_t tl0_offset
    uint16_t last_pid
    uint8_t last_tl0
    uint64_t switches
    uint64_t paused_packets
    uint16_t seq_offset
    uint32_t ts_offset
    uint16_t next_seq
    uint16_t start_seq           # first forwarded input seq; older ones are not forwarded
    uint32_t last_out_ts
    uint64_t packets
    uint64_t octets
    uint64_t rtx_packets
    int64_t last_send_ns
    uint8_t abs_send_out         # this subscriber's abs-send-time id, stamped with the node's send time
    uint8_t twcc_out             # this subscriber's transport-wide-cc id (1..14), added with the peer's seq
    uint8_t ext_map[EXT_IDS]     # publisher extension id -> subscriber id (0 = strip)
    # layer filtering (VP8 temporal layers, VP9 SVC): packets above the caps are dropped without a seq gap
    uint8_t max_tid              # the caps Python asked for (LAYER_ALL: every layer)
    uint8_t max_sid
    uint8_t cur_tid              # the caps in force: lowered at the next frame start, raised at a sync point
    uint8_t cur_sid
    int32_t drop_pid             # input VP8 picture id of the last dropped frame (-1: none)
    uint16_t max_in              # newest input seq this subscription has handled (forwarded or dropped)
    uint64_t filtered
    int off_head                 # the ring of seq-offset changes: input seqs >= off_from[k] (up to the next
    int off_count                # entry) went out with seq + off_seq[k] and VP8 picture id + off_pid[k]
    uint16_t off_from[OFF_RING]
    uint16_t off_seq[OFF_RING]
    uint16_t off_pid[OFF_RING]

cdef struct RtpInfo:
    int hdr_len                  # fixed header + CSRCs
    int ext_profile              # 0xBEDE (one-byte), 0x1000 (two-byte, low nibble = appbits), or -1
    int ext_off                  # offset of extension data (after its 4-byte header)
    int ext_len                  # bytes of extension data
    int payload_off
    int payload_len              # excluding padding
    int pad_len
    uint8_t pt
    int marker
    uint16_t seq
    uint32_t ts
    uint32_t ssrc

cdef struct LayerInfo:
    int layered                  # a VP8/VP9 descriptor was parsed: the fields below mean something
    int tid
    int sid
    int pic_start                # first packet of a picture (VP8: S=1 PID=0; VP9: B=1 at the lowest SID)
    int sync                     # VP8 Y (layer sync), VP9 U (switching up point)
    int end                      # VP9 E: last packet of this spatial layer's frame
    int key
    int pid                      # picture id, -1 when absent
    int ss                       # VP9 scalability structure: number of spatial layers, 0 when absent

cdef struct Vp8Desc:
    int start
    int partition
    int pid
    int wide
    int pid_at                   # offsets of the picture id and TL0PICIDX bytes, 0 when absent
    int tl0
    int tl0_at
    int tid
    int y
    int keyidx
    int hdr_len

cdef struct Vp9Desc:
    int flags                    # byte 0: I P L F B E V Z
    int pid
    int wide
    int tid
    int u
    int sid
    int d
    int tl0
    int ns
    int hdr_len

# ---- open-addressing table: (a, b) -> int; -1 empty, -2 deleted ----
cdef struct Table:
    uint64_t *ka
    uint64_t *kb
    int32_t *val
    uint32_t mask

cdef int table_init(Table *t, uint32_t size) except -1:
    t.ka = <uint64_t *>calloc(size, sizeof(uint64_t))
    t.kb = <uint64_t *>calloc(size, sizeof(uint64_t))
    t.val = <int32_t *>malloc(size * sizeof(int32_t))
    if t.ka == NULL or t.kb == NULL or t.val == NULL:
        raise MemoryError()
    cdef uint32_t i
    for i in range(size):
        t.val[i] = -1
    t.mask = size - 1
    return 0

cdef void table_free(Table *t) noexcept nogil:
    free(t.ka); free(t.kb); free(t.val)

cdef inline uint32_t mix(uint64_t a, uint64_t b) noexcept nogil:
    cdef uint64_t h = a * 0x9E3779B97F4A7C15ULL ^ (b + 0x632BE59BD9B4E019ULL + (a << 6) + (a >> 2))
    h ^= h >> 33
    h *= 0xff51afd7ed558ccdULL
    h ^= h >> 33
    return <uint32_t>h

cdef inline int32_t table_get(Table *t, uint64_t a, uint64_t b) noexcept nogil:
    cdef uint32_t i = mix(a, b) & t.mask
    cdef uint32_t n = 0
    while n <= t.mask:
        if t.val[i] == -1:
            return -1
        if t.val[i] >= 0 and t.ka[i] == a and t.kb[i] == b:
            return t.val[i]
        i = (i + 1) & t.mask
        n += 1
    return -1

cdef int table_put(Table *t, uint64_t a, uint64_t b, int32_t v) noexcept nogil:
    cdef uint32_t i = mix(a, b) & t.mask
    cdef uint32_t n = 0
    cdef int64_t free_slot = -1
    while n <= t.mask:
        if t.val[i] == -1:
            if free_slot < 0:
                free_slot = i
            break
        if t.val[i] == -2:
            if free_slot < 0:
                free_slot = i
        elif t.ka[i] == a and t.kb[i] == b:
            t.val[i] = v
            return 0
        i = (i + 1) & t.mask
        n += 1
    if free_slot < 0:
        return -1
    t.ka[free_slot] = a
    t.kb[free_slot] = b
    t.val[free_slot] = v
    return 0

cdef void table_del(Table *t, uint64_t a, uint64_t b) noexcept nogil:
    cdef uint32_t i = mix(a, b) & t.mask
    cdef uint32_t n = 0
    while n <= t.mask:
        if t.val[i] == -1:
            return
        if t.val[i] >= 0 and t.ka[i] == a and t.kb[i] == b:
            t.val[i] = -2
            return
        i = (i + 1) & t.mask
        n += 1

cdef inline void addr_key(sockaddr_storage *sa, uint64_t *a, uint64_t *b) noexcept nogil:
    cdef sockaddr_in *s4
    cdef sockaddr_in6 *s6
    cdef uint64_t hi = 0, lo = 0
    cdef int i
    if sa.ss_family == AF_INET:
        s4 = <sockaddr_in *>sa
        a[0] = 4
        b[0] = (<uint64_t>s4.sin_addr.s_addr << 16) | s4.sin_port
    else:
        s6 = <sockaddr_in6 *>sa
        for i in range(8):
            hi = (hi << 8) | s6.sin6_addr.s6_addr[i]
            lo = (lo << 8) | s6.sin6_addr.s6_addr[8 + i]
        a[0] = hi ^ (<uint64_t>6 << 60) ^ (<uint64_t>s6.sin6_port << 40)
        b[0] = lo ^ s6.sin6_port

# ---- byte helpers ----
cdef inline uint16_t rd16(const uint8_t *p) noexcept nogil:
    return (<uint16_t>p[0] << 8) | p[1]

cdef inline uint32_t rd32(const uint8_t *p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]

cdef inline void wr16(uint8_t *p, uint16_t v) noexcept nogil:
    p[0] = v >> 8
    p[1] = v & 0xff

cdef inline void wr32(uint8_t *p, uint32_t v) noexcept nogil:
    p[0] = v >> 24
    p[1] = (v >> 16) & 0xff
    p[2] = (v >> 8) & 0xff
    p[3] = v & 0xff

cdef inline int64_t now_ns(int clock) nogil:
    cdef timespec ts
    clock_gettime(clock, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec

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
                oid = s.ext_map[eid]
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


# ---- transport-cc logs (reference: native.reference.ArrivalLog; the send log is read by Engine.twcc_sent) ----
cdef inline void arrival_push(Peer *p, uint16_t seq, int64_t ns) noexcept nogil:
    """Records one arrival; when Python has not drained for ARRIVAL_LOG_SIZE packets the oldest are dropped."""
    cdef uint32_t i = p.arr_head & (ARRIVAL_LOG_SIZE - 1)
    p.arr_seq[i] = seq
    p.arr_ns[i] = ns
    p.arr_head += 1
    if p.arr_head - p.arr_tail > ARRIVAL_LOG_SIZE:
        p.arr_tail = p.arr_head - ARRIVAL_LOG_SIZE
        p.arr_overflow += 1

cdef object arrival_drain(Peer *p):
    """[(transport seq, arrival µs), ...] in arrival order since the last drain."""
    cdef list out = []
    cdef uint32_t i
    while p.arr_tail != p.arr_head:
        i = p.arr_tail & (ARRIVAL_LOG_SIZE - 1)
        out.append((p.arr_seq[i], p.arr_ns[i] // 1000))
        p.arr_tail += 1
    return out

cdef int alloc_arrival_log(Peer *p) except -1:
    if p.arr_seq == NULL:
        p.arr_seq = <uint16_t *>calloc(ARRIVAL_LOG_SIZE, sizeof(uint16_t))
        p.arr_ns = <int64_t *>calloc(ARRIVAL_LOG_SIZE, sizeof(int64_t))
        if p.arr_seq == NULL or p.arr_ns == NULL:
            raise MemoryError()
    return 0

cdef int alloc_send_log(Peer *p) except -1:
    if p.snd_seq == NULL:
        p.snd_seq = <uint16_t *>calloc(SEND_LOG_SIZE, sizeof(uint16_t))
        p.snd_ns = <int64_t *>calloc(SEND_LOG_SIZE, sizeof(int64_t))
        p.snd_size = <uint16_t *>calloc(SEND_LOG_SIZE, sizeof(uint16_t))
        if p.snd_seq == NULL or p.snd_ns == NULL or p.snd_size == NULL:
            raise MemoryError()
    return 0

cdef void free_twcc_logs(Peer *p) noexcept nogil:
    free(p.arr_seq); free(p.arr_ns); free(p.snd_seq); free(p.snd_ns); free(p.snd_size)
    p.arr_seq = NULL
    p.arr_ns = NULL
    p.snd_seq = NULL
    p.snd_ns = NULL
    p.snd_size = NULL

cdef inline int sent_log(Peer *p, uint16_t seq, int size, int64_t ns) noexcept nogil:
    """Logs a packet stamped with transport seq `seq`; returns its slot (the flush refines the send time)."""
    cdef int i = seq & (SEND_LOG_SIZE - 1)
    p.snd_seq[i] = seq
    p.snd_ns[i] = ns
    p.snd_size[i] = <uint16_t>size
    p.twcc_sent += 1
    return i


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


cdef class Engine:
    """The native forwarding engine of one node. Single-threaded: Python calls it from the event loop."""

    cdef int fd
    cdef int max_peers, max_tracks, max_subs
    cdef Peer *peers
    cdef Track *tracks
    cdef Sub *subs
    cdef Table addr_table
    cdef Table ssrc_table
    cdef uint8_t *rx_buf
    cdef sockaddr_storage rx_addr[RX_BATCH]
    cdef iovec rx_iov[RX_BATCH]
    cdef mmsghdr rx_msgs[RX_BATCH]
    cdef uint8_t *rx_ctrl
    cdef int64_t rx_arrival[RX_BATCH]
    cdef uint8_t *tx_buf
    cdef iovec tx_iov[TX_SLOTS]
    cdef mmsghdr tx_msgs[TX_SLOTS]
    cdef int64_t tx_arrival[TX_SLOTS]
    cdef Peer *tx_log_peer[TX_SLOTS]    # transport-cc: whose send log holds this slot's packet (or NULL)
    cdef int tx_log_slot[TX_SLOTS]
    cdef int tx_count
    cdef int ev_kind[EV_MAX]
    cdef int ev_peer[EV_MAX]
    cdef int ev_slot[EV_MAX]
    cdef int ev_len[EV_MAX]
    cdef int ev_count
    cdef uint64_t drops[D_COUNT]
    cdef uint64_t rx_packets, rx_bytes, fwd_packets, fwd_bytes, rtx_sent, rtcp_sent, batches, probe_packets
    cdef uint64_t layer_filtered     # packets not sent to a subscriber because of its layer caps (intentional)
    cdef uint32_t *hist
    cdef int measure_latency
    cdef pthread_mutex_t mtx     # serialises the media thread and Python's table updates (recursive)
    cdef volatile int running

    def __cinit__(self, int fd, int max_peers=1024, int max_tracks=4096, int max_subs=16384,
                  bint measure_latency=True):
        cdef int i, one = 1
        self.fd = fd
        self.max_peers = max_peers
        self.max_tracks = max_tracks
        self.max_subs = max_subs
        self.peers = <Peer *>calloc(max_peers, sizeof(Peer))
        self.tracks = <Track *>calloc(max_tracks, sizeof(Track))
        self.subs = <Sub *>calloc(max_subs, sizeof(Sub))
        self.rx_buf = <uint8_t *>malloc(RX_BATCH * SLOT)
        self.rx_ctrl = <uint8_t *>calloc(RX_BATCH, 64)
        self.tx_buf = <uint8_t *>malloc(TX_SLOTS * SLOT)
        self.hist = <uint32_t *>calloc(HIST_BUCKETS, sizeof(uint32_t))
        if (self.peers == NULL or self.tracks == NULL or self.subs == NULL or self.rx_buf == NULL
                or self.rx_ctrl == NULL or self.tx_buf == NULL or self.hist == NULL):
            raise MemoryError()
        table_init(&self.addr_table, 4096)
        table_init(&self.ssrc_table, 16384)
        for i in range(RX_BATCH):
            self.rx_iov[i].iov_base = self.rx_buf + i * SLOT
            self.rx_iov[i].iov_len = SLOT
        for i in range(TX_SLOTS):
            self.tx_iov[i].iov_base = self.tx_buf + i * SLOT
        cdef pthread_mutexattr_t attr
        pthread_mutexattr_init(&attr)
        pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE)
        pthread_mutex_init(&self.mtx, &attr)
        self.measure_latency = 1 if measure_latency else 0
        if self.measure_latency:
            setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(int))
        _init_srtp()

    def __dealloc__(self):
        cdef int i
        if self.peers != NULL:
            for i in range(self.max_peers):
                self._free_peer_srtp(i)
                free_twcc_logs(&self.peers[i])
            free(self.peers)
        if self.tracks != NULL:
            for i in range(self.max_tracks):
                if self.tracks[i].ring != NULL:
                    free(self.tracks[i].ring); free(self.tracks[i].ring_len); free(self.tracks[i].ring_seq)
            free(self.tracks)
        free(self.subs)
        free(self.rx_buf)
        free(self.rx_ctrl)
        free(self.tx_buf)
        free(self.hist)
        table_free(&self.addr_table)
        table_free(&self.ssrc_table)

    # ---------------- control-plane methods (Python) ----------------

    cdef void _free_peer_srtp(self, int i) noexcept:
        if self.peers[i].rx != NULL:
            srtp_dealloc(self.peers[i].rx)
            self.peers[i].rx = NULL
        if self.peers[i].tx != NULL:
            srtp_dealloc(self.peers[i].tx)
            self.peers[i].tx = NULL
        self.peers[i].ready = 0

    cdef int _check(self, int idx, int limit, str what) except -1:
        if idx < 0 or idx >= limit:
            raise ValueError(f"{what} index {idx} out of range")
        return 0

    def add_peer(self, int peer):
        self._check(peer, self.max_peers, "peer")
        if self.peers[peer].used:
            raise ValueError(f"peer {peer} already exists")
        memset(&self.peers[peer], 0, sizeof(Peer))
        self.peers[peer].used = 1

    def set_peer_address(self, int peer, str host, int port):
        """Binds the peer to the address its valid STUN came from (also on NAT rebinding / ICE restart)."""
        self._check(peer, self.max_peers, "peer")
        cdef Peer *p = &self.peers[peer]
        if not p.used:
            raise ValueError(f"peer {peer} unknown")
        cdef sockaddr_storage sa
        memset(&sa, 0, sizeof(sa))
        cdef sockaddr_in *s4 = <sockaddr_in *>&sa
        cdef sockaddr_in6 *s6 = <sockaddr_in6 *>&sa
        hb = host.encode()
        if ":" in host:
            s6.sin6_family = AF_INET6
            s6.sin6_port = ((port & 0xff) << 8) | (port >> 8)
            if inet_pton(AF_INET6, hb, &s6.sin6_addr) != 1:
                raise ValueError(f"bad address {host!r}")
            p.addrlen = sizeof(sockaddr_in6)
        else:
            s4.sin_family = AF_INET
            s4.sin_port = ((port & 0xff) << 8) | (port >> 8)
            if inet_pton(AF_INET, hb, &s4.sin_addr) != 1:
                raise ValueError(f"bad address {host!r}")
            p.addrlen = sizeof(sockaddr_in)
        if p.has_addr:
            table_del(&self.addr_table, p.key_a, p.key_b)
        memcpy(&p.addr, &sa, sizeof(sa))
        addr_key(&p.addr, &p.key_a, &p.key_b)
        if table_put(&self.addr_table, p.key_a, p.key_b, peer) != 0:
            raise MemoryError("address table full")
        p.has_addr = 1

    def clear_peer_address(self, int peer):
        """Stops sending to the peer (consent expired, RFC 7675) until a valid STUN binds it again."""
        self._check(peer, self.max_peers, "peer")
        cdef Peer *p = &self.peers[peer]
        if p.has_addr:
            table_del(&self.addr_table, p.key_a, p.key_b)
            p.has_addr = 0

    def set_peer_srtp(self, int peer, int profile, bytes rx_key, bytes tx_key):
        """Installs the SRTP master keys (key||salt) exported from DTLS; profile is the libsrtp profile id."""
        self._check(peer, self.max_peers, "peer")
        cdef Peer *p = &self.peers[peer]
        if not p.used:
            raise ValueError(f"peer {peer} unknown")
        self._free_peer_srtp(peer)
        p.rx = _new_session(profile, rx_key, 2)
        p.tx = _new_session(profile, tx_key, 3)
        p.ready = 1

    def set_peer_extensions(self, int peer, int abs_send_id=0, int audio_level_id=0, int twcc_id=0):
        """The ids of the extensions the peer stamps on what it sends. With twcc_id, the engine logs each
        packet's transport-wide sequence number and arrival time for twcc_arrivals()."""
        self._check(peer, self.max_peers, "peer")
        if not 0 <= twcc_id < EXT_IDS:
            raise ValueError("twcc_id out of range")
        if twcc_id:
            alloc_arrival_log(&self.peers[peer])
        self.peers[peer].abs_send_id = abs_send_id
        self.peers[peer].audio_level_id = audio_level_id
        self.peers[peer].twcc_id = twcc_id

    def remove_peer(self, int peer):
        self._check(peer, self.max_peers, "peer")
        cdef Peer *p = &self.peers[peer]
        if not p.used:
            return
        cdef int i
        for i in range(self.max_subs):
            if self.subs[i].used and self.subs[i].peer == peer:
                self.remove_subscription(i)
        for i in range(self.max_tracks):
            if self.tracks[i].used and self.tracks[i].peer == peer:
                self.remove_track(i)
        if p.has_addr:
            table_del(&self.addr_table, p.key_a, p.key_b)
        self._free_peer_srtp(peer)
        free_twcc_logs(p)
        memset(p, 0, sizeof(Peer))

    def add_track(self, int track, int peer, unsigned int ssrc, int codec, unsigned int clock_rate,
                  int buffer_packets=512):
        """A published source: RTP from `peer` with `ssrc`. buffer_packets (a power of two) bounds NACK service."""
        self._check(track, self.max_tracks, "track")
        self._check(peer, self.max_peers, "peer")
        if self.tracks[track].used:
            raise ValueError(f"track {track} already exists")
        if buffer_packets < 16 or (buffer_packets & (buffer_packets - 1)):
            raise ValueError("buffer_packets must be a power of two >= 16")
        if table_get(&self.ssrc_table, peer, ssrc) >= 0:
            raise ValueError(f"ssrc {ssrc} already published by peer {peer}")
        cdef Track *t = &self.tracks[track]
        memset(t, 0, sizeof(Track))
        t.ring = <uint8_t *>malloc(buffer_packets * SLOT)
        t.ring_len = <uint16_t *>calloc(buffer_packets, sizeof(uint16_t))
        t.ring_seq = <uint16_t *>calloc(buffer_packets, sizeof(uint16_t))
        if t.ring == NULL or t.ring_len == NULL or t.ring_seq == NULL:
            raise MemoryError()
        t.ring_mask = buffer_packets - 1
        t.used = 1
        t.peer = peer
        t.ssrc = ssrc
        t.codec = codec
        t.clock_rate = clock_rate
        t.first_sub = -1
        t.first_pending = -1
        t.audio_level = -1
        t.max_tid_seen = -1
        t.max_sid_seen = -1
        if table_put(&self.ssrc_table, peer, ssrc, track) != 0:
            raise MemoryError("ssrc table full")

    def remove_track(self, int track):
        self._check(track, self.max_tracks, "track")
        cdef Track *t = &self.tracks[track]
        if not t.used:
            return
        cdef int i
        for i in range(self.max_subs):
            if self.subs[i].used and self.subs[i].track == track:
                self.remove_subscription(i)
            elif self.subs[i].used and self.subs[i].target == track:
                _unlink(self.subs, &t.first_pending, i, 1)
                self.subs[i].target = -1
        table_del(&self.ssrc_table, t.peer, t.ssrc)
        free(t.ring); free(t.ring_len); free(t.ring_seq)
        memset(t, 0, sizeof(Track))

    def add_subscription(self, int sub, int track, int peer, unsigned int ssrc, int pt,
                         unsigned int rtx_ssrc=0, int rtx_pt=-1, bytes ext_map=b"", int abs_send_out=0,
                         int initial_seq=0, unsigned int ts_offset=0, int twcc_out=0):
        """`peer` receives `track` as `ssrc`/`pt`. ext_map[i] is the subscriber's id for publisher id i.
        twcc_out (1..14): the subscriber's transport-wide-cc id; every packet of this subscription then carries
        the peer's next transport sequence number and is logged for twcc_sent()."""
        self._check(sub, self.max_subs, "subscription")
        self._check(track, self.max_tracks, "track")
        self._check(peer, self.max_peers, "peer")
        if self.subs[sub].used:
            raise ValueError(f"subscription {sub} already exists")
        cdef Track *t = &self.tracks[track]
        if not t.used or not self.peers[peer].used:
            raise ValueError("unknown track or peer")
        if len(ext_map) > EXT_IDS:
            raise ValueError("ext_map too long")
        if not 0 <= twcc_out <= 14:
            raise ValueError("twcc_out must be a one-byte extension id (1..14) or 0")
        if twcc_out:
            alloc_send_log(&self.peers[peer])
        cdef Sub *s = &self.subs[sub]
        memset(s, 0, sizeof(Sub))
        s.used = 1
        s.track = track
        s.peer = peer
        s.ssrc = ssrc
        s.pt = pt & 0x7f
        s.rtx_ssrc = rtx_ssrc
        s.rtx_pt = (rtx_pt & 0x7f) if rtx_pt >= 0 else 0xff
        s.next_seq = initial_seq & 0xffff
        s.ts_offset = ts_offset
        s.need_keyframe = 0 if (t.codec == CODEC_OPUS or t.codec == CODEC_OTHER) else 1
        s.abs_send_out = abs_send_out
        s.twcc_out = twcc_out
        s.target = -1
        s.next_pending = -1
        s.max_tid = s.max_sid = s.cur_tid = s.cur_sid = LAYER_ALL
        s.drop_pid = -1
        cdef int i
        for i in range(len(ext_map)):
            s.ext_map[i] = ext_map[i]
        s.next = t.first_sub
        t.first_sub = sub

    def remove_subscription(self, int sub):
        self._check(sub, self.max_subs, "subscription")
        cdef Sub *s = &self.subs[sub]
        if not s.used:
            return
        _unlink(self.subs, &self.tracks[s.track].first_sub, sub, 0)
        if s.target >= 0:
            _unlink(self.subs, &self.tracks[s.target].first_pending, sub, 1)
        memset(s, 0, sizeof(Sub))

    def restart_subscription(self, int sub):
        """Waits for the next keyframe before forwarding again (e.g. after the subscriber's decoder reset)."""
        self._check(sub, self.max_subs, "subscription")
        cdef Sub *s = &self.subs[sub]
        if s.used and self.tracks[s.track].codec not in (CODEC_OPUS, CODEC_OTHER):
            s.started = 0
            s.need_keyframe = 1

    def switch_layer(self, int sub, int track):
        """Simulcast: forward `track` (another layer of the same source) to this subscription from that layer's
        next keyframe on, with sequence numbers, timestamps and VP8 picture ids continuing seamlessly.
        Switching to the current layer cancels a pending switch."""
        self._check(sub, self.max_subs, "subscription")
        self._check(track, self.max_tracks, "track")
        cdef Sub *s = &self.subs[sub]
        if not s.used or not self.tracks[track].used:
            raise ValueError("unknown subscription or track")
        if s.target >= 0:
            _unlink(self.subs, &self.tracks[s.target].first_pending, sub, 1)
            s.target = -1
        if track == s.track:
            return
        s.target = track
        s.next_pending = self.tracks[track].first_pending
        self.tracks[track].first_pending = sub

    def subscription_layer(self, int sub):
        """(current track, pending target or -1, switches so far)"""
        self._check(sub, self.max_subs, "subscription")
        cdef Sub *s = &self.subs[sub]
        return (s.track, s.target, s.switches) if s.used else None

    def set_paused(self, int sub, bint paused):
        """Stops or resumes forwarding a subscription (last-N, an unwatched tile). Video resumes at a keyframe,
        with sequence numbers continuing where they stopped."""
        self._check(sub, self.max_subs, "subscription")
        cdef Sub *s = &self.subs[sub]
        if not s.used:
            return
        if s.paused and not paused and self.tracks[s.track].codec not in (CODEC_OPUS, CODEC_OTHER):
            s.started = 0
            s.need_keyframe = 1
        s.paused = 1 if paused else 0

    def audio_activity(self, int track):
        """(sum of loudness 0..127, packets with a level, packets with the voice bit) since the last call."""
        self._check(track, self.max_tracks, "track")
        cdef Track *t = &self.tracks[track]
        if not t.used:
            return None
        out = (t.loudness_sum, t.level_count, t.voice_count)
        t.loudness_sum = 0
        t.level_count = 0
        t.voice_count = 0
        return out

    def subscription_waiting(self, int sub):
        self._check(sub, self.max_subs, "subscription")
        return bool(self.subs[sub].used and not self.subs[sub].started)

    def set_temporal(self, int sub, int max_tid):
        """Caps the temporal layer (VP8/VP9 TID) forwarded to a subscription; -1 or >= 7: every layer.
        Lowering takes effect at the next frame start; raising at a layer sync point (VP8 Y bit one layer up,
        VP9 U bit) or a keyframe. Dropped packets leave no sequence gap and, for VP8, no picture id gap."""
        self._check(sub, self.max_subs, "subscription")
        cdef Sub *s = &self.subs[sub]
        if s.used:
            s.max_tid = LAYER_ALL if (max_tid < 0 or max_tid > LAYER_ALL) else max_tid

    def set_svc(self, int sub, int max_sid, int max_tid=-1):
        """VP9 SVC: caps the spatial (SID) and temporal (TID) layers forwarded; -1: every layer. Spatial
        down-switches happen at the next picture start, up-switches at a keyframe (ask the publisher for one)."""
        self._check(sub, self.max_subs, "subscription")
        cdef Sub *s = &self.subs[sub]
        if s.used:
            s.max_sid = LAYER_ALL if (max_sid < 0 or max_sid > LAYER_ALL) else max_sid
            s.max_tid = LAYER_ALL if (max_tid < 0 or max_tid > LAYER_ALL) else max_tid

    def subscription_layers(self, int sub):
        """(max_sid, max_tid asked, cur_sid, cur_tid in force, packets filtered); 7 means every layer."""
        self._check(sub, self.max_subs, "subscription")
        cdef Sub *s = &self.subs[sub]
        if not s.used:
            return None
        return (s.max_sid, s.max_tid, s.cur_sid, s.cur_tid, s.filtered)

    def track_layers(self, int track):
        """(highest SID seen, highest TID seen, spatial layers announced by a VP9 scalability structure,
        payload octets per SID [8]); -1 / 0 when the track carries no layer indices."""
        self._check(track, self.max_tracks, "track")
        cdef Track *t = &self.tracks[track]
        if not t.used:
            return None
        return (t.max_sid_seen, t.max_tid_seen, t.ss_layers, [t.sid_octets[i] for i in range(SID_MAX)])

    # ---------------- the per-packet path ----------------

    def poll(self, int max_batches=16):
        """Receives and forwards until the socket is empty (or max_batches); returns control events:
        a list of (kind, peer, (host, port), payload bytes). For an engine driven by the event loop."""
        cdef list events = []
        cdef int b, n
        for b in range(max_batches):
            with nogil:
                pthread_mutex_lock(&self.mtx)
                n = self._recv_batch()
                pthread_mutex_unlock(&self.mtx)
            if n < 0:
                break
            self._collect(events)
            if n < RX_BATCH:
                break
        return events

    cdef void _collect(self, list events):
        cdef int i
        for i in range(self.ev_count):
            events.append((self.ev_kind[i], self.ev_peer[i], self._addr_tuple(self.ev_slot[i]),
                           PyBytes_FromStringAndSize(<char *>(self.rx_buf + self.ev_slot[i] * SLOT),
                                                     self.ev_len[i])))
        self.ev_count = 0

    def serve(self, callback):
        """The media loop on its own thread: waits for datagrams and forwards them without the GIL; takes the
        GIL only to hand control events to `callback` (a list, as poll() returns). Runs until stop_serving().
        Python calls on the engine from other threads must hold the engine lock (sfu.engine.ThreadedEngine)."""
        cdef pollfd pfd
        cdef int r, n, b
        self.running = 1
        with nogil:
            while self.running:
                pfd.fd = self.fd
                pfd.events = POLLIN
                pfd.revents = 0
                r = c_poll(&pfd, 1, 200)
                if r <= 0:
                    continue
                for b in range(16):
                    pthread_mutex_lock(&self.mtx)
                    n = self._recv_batch()
                    pthread_mutex_unlock(&self.mtx)
                    if n < 0:
                        break
                    if self.ev_count > 0:
                        with gil:
                            self._deliver(callback)
                    if n < RX_BATCH:
                        break

    cdef void _deliver(self, callback):
        cdef list events = []
        self._collect(events)
        try:
            callback(events)
        except BaseException:  # noqa - the media loop outlives any handler bug
            pass

    def stop_serving(self):
        self.running = 0

    def _lock(self):
        with nogil:
            pthread_mutex_lock(&self.mtx)

    def _unlock(self):
        pthread_mutex_unlock(&self.mtx)

    cdef object _addr_tuple(self, int slot):
        cdef char buf[64]
        cdef sockaddr_storage *sa = &self.rx_addr[slot]
        cdef sockaddr_in *s4
        cdef sockaddr_in6 *s6
        if sa.ss_family == AF_INET:
            s4 = <sockaddr_in *>sa
            inet_ntop(AF_INET, &s4.sin_addr, buf, 64)
            return (buf.decode(), ((s4.sin_port & 0xff) << 8) | (s4.sin_port >> 8))
        s6 = <sockaddr_in6 *>sa
        inet_ntop(AF_INET6, &s6.sin6_addr, buf, 64)
        return (buf.decode(), ((s6.sin6_port & 0xff) << 8) | (s6.sin6_port >> 8))

    cdef int _recv_batch(self) noexcept nogil:
        cdef int i, n
        cdef int64_t arrival
        cdef cmsghdr *c
        cdef timespec *tsp
        for i in range(RX_BATCH):
            memset(&self.rx_msgs[i].msg_hdr, 0, sizeof(msghdr))
            self.rx_msgs[i].msg_hdr.msg_name = &self.rx_addr[i]
            self.rx_msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage)
            self.rx_msgs[i].msg_hdr.msg_iov = &self.rx_iov[i]
            self.rx_msgs[i].msg_hdr.msg_iovlen = 1
            if self.measure_latency:
                self.rx_msgs[i].msg_hdr.msg_control = self.rx_ctrl + i * 64
                self.rx_msgs[i].msg_hdr.msg_controllen = 64
        self.ev_count = 0
        n = recvmmsg(self.fd, self.rx_msgs, RX_BATCH, MSG_DONTWAIT, NULL)
        if n <= 0:
            return -1
        self.batches += 1
        arrival = now_ns(CLOCK_REALTIME)
        for i in range(n):
            self.rx_arrival[i] = arrival
            if self.measure_latency:
                c = CMSG_FIRSTHDR(&self.rx_msgs[i].msg_hdr)
                while c != NULL:
                    if c.cmsg_level == SOL_SOCKET and c.cmsg_type == SCM_TIMESTAMPNS:
                        tsp = <timespec *>CMSG_DATA(c)
                        self.rx_arrival[i] = <int64_t>tsp.tv_sec * 1000000000 + tsp.tv_nsec
                        break
                    c = CMSG_NXTHDR(&self.rx_msgs[i].msg_hdr, c)
            self._handle(i, self.rx_msgs[i].msg_len)
            if self.tx_count >= FLUSH_AT:
                # send each packet's fan-out as soon as it is big enough to batch well: a copy then waits for
                # its own packet's fan-out, not for the whole receive batch
                self._flush()
        self._flush()
        return n

    cdef inline void _event(self, int kind, int peer, int slot, int length) noexcept nogil:
        if self.ev_count >= EV_MAX:
            self.drops[D_EVENT_OVERFLOW] += 1
            return
        self.ev_kind[self.ev_count] = kind
        self.ev_peer[self.ev_count] = peer
        self.ev_slot[self.ev_count] = slot
        self.ev_len[self.ev_count] = length
        self.ev_count += 1

    cdef void _handle(self, int slot, int n) noexcept nogil:
        cdef uint8_t *p = self.rx_buf + slot * SLOT
        cdef uint64_t ka, kb
        cdef int peer, length
        cdef srtp_err_status_t st
        self.rx_packets += 1
        self.rx_bytes += n
        if n < 1:
            self.drops[D_MALFORMED] += 1
            return
        if n >= SLOT - 16:
            self.drops[D_TOO_BIG] += 1
            return
        addr_key(&self.rx_addr[slot], &ka, &kb)
        peer = table_get(&self.addr_table, ka, kb)
        if p[0] < 4:                                   # STUN: Python checks integrity and binds addresses
            if n < 20:
                self.drops[D_MALFORMED] += 1
                return
            self._event(EV_STUN, peer, slot, n)
            return
        if peer < 0:
            self.drops[D_UNKNOWN_ADDR] += 1
            return
        if p[0] >= 20 and p[0] <= 63:
            self._event(EV_DTLS, peer, slot, n)
            return
        if p[0] < 128 or p[0] > 191:
            self.drops[D_UNCLASSIFIED] += 1
            return
        if not self.peers[peer].ready:
            self.drops[D_NOT_READY] += 1
            return
        if n < 12:
            self.drops[D_MALFORMED] += 1
            return
        length = n
        if p[1] >= 192 and p[1] <= 223:                # RTCP (RFC 5761 demux)
            st = srtp_unprotect_rtcp(self.peers[peer].rx, p, &length)
            if st != 0:
                self.drops[D_SRTCP_AUTH] += 1
                return
            self._event(EV_RTCP, peer, slot, length)
            return
        st = srtp_unprotect(self.peers[peer].rx, p, &length)
        if st != 0:
            if st == 9 or st == 10:
                self.drops[D_SRTP_REPLAY] += 1
            else:
                self.drops[D_SRTP_AUTH] += 1
            return
        self.peers[peer].rx_packets += 1
        self._forward(peer, slot, p, length)

    cdef void _forward(self, int peer, int slot, uint8_t *p, int n) noexcept nogil:
        cdef RtpInfo r
        if n > MAX_RTP:
            self.drops[D_TOO_BIG] += 1
            return
        if parse_rtp_c(p, n, &r) != 0:
            self.drops[D_MALFORMED] += 1
            return
        cdef Peer *pp = &self.peers[peer]
        cdef int toff = 0
        if pp.twcc_id != 0 and find_ext(p, &r, pp.twcc_id, &toff) >= 2:
            # transport-wide: every packet counts (RTX, padding probes, SSRCs not learned yet)
            arrival_push(pp, rd16(p + toff), self.rx_arrival[slot])
        cdef int ti = table_get(&self.ssrc_table, peer, r.ssrc)
        if ti < 0:
            self.drops[D_UNKNOWN_SSRC] += 1
            self._event(EV_UNKNOWN_SSRC, peer, slot, n)
            return
        cdef Track *t = &self.tracks[ti]
        cdef int64_t arrival = self.rx_arrival[slot]
        self._receive_stats(t, &r, arrival, n, p)
        # keep a plaintext copy for NACKs
        cdef int ri = r.seq & t.ring_mask
        memcpy(t.ring + ri * SLOT, p, n)
        t.ring_len[ri] = n
        t.ring_seq[ri] = r.seq
        cdef int key = is_keyframe_c(t.codec, p + r.payload_off, r.payload_len)
        if key and t.codec != CODEC_OPUS and t.codec != CODEC_OTHER:
            t.keyframes += 1
            t.last_keyframe_ns = arrival
        cdef LayerInfo L
        layer_info(t.codec, p + r.payload_off, r.payload_len, key, &L)
        if L.layered:
            if L.tid > t.max_tid_seen:
                t.max_tid_seen = L.tid
            if L.sid > t.max_sid_seen:
                t.max_sid_seen = L.sid
            if L.ss > 0:
                t.ss_layers = L.ss
            t.sid_octets[L.sid] += r.payload_len
        cdef uint32_t abs_send = abs_send_time(arrival)
        cdef int si = t.first_sub
        cdef Sub *s
        while si >= 0:
            s = &self.subs[si]
            si = s.next
            self._send_to(s, t, p, &r, key, arrival, abs_send, &L)
        # simulcast: subscriptions waiting to switch onto this layer move at its keyframe
        if key and t.first_pending >= 0:
            si = t.first_pending
            while si >= 0:
                s = &self.subs[si]
                si = s.next_pending
                if s.paused or not self.peers[s.peer].ready:
                    continue
                self._switch(s, ti, &r, arrival)
                self._send_to(s, t, p, &r, key, arrival, abs_send, &L)

    cdef void _switch(self, Sub *s, int ti, RtpInfo *r, int64_t arrival) noexcept nogil:
        """Moves a subscription onto layer `ti` at its keyframe: one continuous stream for the subscriber."""
        cdef Track *t = &self.tracks[ti]
        cdef Track *old = &self.tracks[s.track]
        cdef int idx = <int>(s - self.subs)
        _unlink(self.subs, &t.first_pending, idx, 1)
        _unlink(self.subs, &old.first_sub, idx, 0)
        s.next = t.first_sub
        t.first_sub = idx
        s.track = ti
        s.target = -1
        cdef int64_t elapsed = 0
        if s.last_send_ns > 0 and arrival > s.last_send_ns:
            elapsed = (arrival - s.last_send_ns) // 1000 * t.clock_rate // 1000000
        if elapsed < 1:
            elapsed = 1
        s.ts_offset = <uint32_t>(s.last_out_ts + <uint32_t>elapsed - r.ts)
        s.started = 0
        s.need_keyframe = 0
        s.resync_vp8 = 1
        s.switches += 1

    cdef void _send_to(self, Sub *s, Track *t, uint8_t *p, RtpInfo *r, int key, int64_t arrival,
                       uint32_t abs_send, LayerInfo *L) noexcept nogil:
        cdef Peer *sp
        cdef uint8_t *dst
        cdef int out_len
        cdef srtp_err_status_t st
        if s.paused:
            s.paused_packets += 1
            return
        sp = &self.peers[s.peer]
        if not sp.ready or not sp.has_addr:
            self.drops[D_NOT_READY] += 1
            return
        if self.tx_count >= TX_SLOTS:
            self._flush()
        dst = self.tx_buf + self.tx_count * SLOT
        out_len = sub_rewrite(s, t.codec, p, r, L, key, dst, abs_send, sp.twcc_next)
        if out_len <= 0:
            if out_len == 0:
                self.layer_filtered += 1     # intentional (the subscriber's layer caps), not a drop
            else:
                self.drops[D_NOT_STARTED] += 1
            return
        st = srtp_protect(sp.tx, dst, &out_len)
        if st != 0:
            self.drops[D_SEND_FAILED] += 1
            return
        cdef int log_slot = -1
        if s.twcc_out:
            log_slot = sent_log(sp, sp.twcc_next, out_len, arrival)
            sp.twcc_next += 1
        s.packets += 1
        s.octets += r.payload_len
        s.last_send_ns = arrival
        self._queue(dst, out_len, sp, arrival, log_slot)

    cdef inline void _queue(self, uint8_t *dst, int out_len, Peer *sp, int64_t arrival, int log_slot) noexcept nogil:
        cdef mmsghdr *m = &self.tx_msgs[self.tx_count]
        memset(&m.msg_hdr, 0, sizeof(msghdr))
        m.msg_hdr.msg_name = &sp.addr
        m.msg_hdr.msg_namelen = sp.addrlen
        self.tx_iov[self.tx_count].iov_len = out_len
        m.msg_hdr.msg_iov = &self.tx_iov[self.tx_count]
        m.msg_hdr.msg_iovlen = 1
        self.tx_arrival[self.tx_count] = arrival
        self.tx_log_peer[self.tx_count] = sp if log_slot >= 0 else NULL
        self.tx_log_slot[self.tx_count] = log_slot
        self.tx_count += 1
        sp.tx_packets += 1

    cdef void _receive_stats(self, Track *t, RtpInfo *r, int64_t arrival, int n, uint8_t *p) noexcept nogil:
        cdef int16_t delta
        cdef int64_t transit, d, arrival_units
        cdef int off, l
        if not t.seq_init:
            t.seq_init = 1
            t.base_seq = r.seq
            t.max_seq = r.seq
            t.first_arrival_ns = arrival
        else:
            delta = <int16_t>(r.seq - t.max_seq)
            if delta > 0:
                if r.seq < t.max_seq:
                    t.cycles += 65536
                t.max_seq = r.seq
        t.received += 1
        t.octets += r.payload_len
        # interarrival jitter in RTP units (RFC 3550 A.8), only between packets of different timestamps
        if t.clock_rate > 0 and r.ts != t.last_ts:
            arrival_units = (arrival - t.first_arrival_ns) // 1000 * t.clock_rate // 1000000
            transit = arrival_units - r.ts
            if t.last_arrival_ns != 0:
                d = transit - t.last_transit
                if d < 0:
                    d = -d
                if d < 0x7fffffff:
                    t.jitter_q4 += d - ((t.jitter_q4 + 8) >> 4)
            t.last_transit = transit
        t.last_ts = r.ts
        t.last_arrival_ns = arrival
        l = find_ext(p, r, self.peers[t.peer].audio_level_id, &off)
        if l >= 1:
            t.audio_level = p[off] & 0x7f
            t.voice = p[off] >> 7
            t.loudness_sum += 127 - t.audio_level
            t.level_count += 1
            t.voice_count += t.voice

    cdef void _flush(self) noexcept nogil:
        cdef int sent = 0, r, i
        cdef int64_t done = 0, us
        cdef Peer *lp
        while sent < self.tx_count:
            r = sendmmsg(self.fd, self.tx_msgs + sent, self.tx_count - sent, 0)
            if r < 0:
                if errno == EINTR:
                    continue
                # the kernel refused the rest (buffer full): count, never block the loop
                self.drops[D_SEND_FAILED] += self.tx_count - sent
                break
            sent += r
        if sent > 0:
            self.fwd_packets += sent
            for i in range(sent):
                self.fwd_bytes += self.tx_iov[i].iov_len
                lp = self.tx_log_peer[i]
                if lp != NULL:
                    # transport-cc send time: when the kernel took the packet, not when it was queued
                    if done == 0:
                        done = now_ns(CLOCK_REALTIME)
                    if lp.snd_seq != NULL:
                        lp.snd_ns[self.tx_log_slot[i]] = done
            if self.measure_latency:
                if done == 0:
                    done = now_ns(CLOCK_REALTIME)
                for i in range(sent):
                    us = (done - self.tx_arrival[i]) // 1000
                    if us < 0:
                        us = 0
                    if us >= HIST_BUCKETS:
                        us = HIST_BUCKETS - 1
                    self.hist[us] += 1
        self.tx_count = 0

    # ---------------- RTCP / retransmission, driven by Python decisions ----------------

    def send_rtcp(self, int peer, bytes packet):
        """Protects a plaintext compound RTCP packet for `peer` and sends it."""
        self._check(peer, self.max_peers, "peer")
        cdef Peer *p = &self.peers[peer]
        if not p.ready or not p.has_addr:
            return False
        cdef int n = len(packet)
        if n > MAX_RTP or n < 8:
            raise ValueError("RTCP packet size out of range")
        cdef uint8_t buf[SLOT]
        memcpy(buf, <const char *>packet, n)
        if srtp_protect_rtcp(p.tx, buf, &n) != 0:
            return False
        if sendto(self.fd, buf, n, 0, <sockaddr *>&p.addr, p.addrlen) < 0:
            return False
        self.rtcp_sent += 1
        return True

    def send_raw(self, int peer, bytes data):
        """Sends an unprotected datagram (DTLS) to the peer's bound address."""
        self._check(peer, self.max_peers, "peer")
        cdef Peer *p = &self.peers[peer]
        if not p.has_addr:
            return False
        return sendto(self.fd, <const char *>data, len(data), 0, <sockaddr *>&p.addr, p.addrlen) >= 0

    def retransmit(self, int sub, seqs):
        """Serves a subscriber's NACK from the track's buffer (as RTX when negotiated). Returns the count sent."""
        self._check(sub, self.max_subs, "subscription")
        cdef Sub *s = &self.subs[sub]
        if not s.used or not s.started:
            return 0
        cdef Track *t = &self.tracks[s.track]
        cdef Peer *sp = &self.peers[s.peer]
        if not sp.ready or not sp.has_addr:
            return 0
        cdef int sent = 0, ri, out_len, src_len, log_slot, k, marker
        cdef uint16_t in_seq = 0, out_seq
        cdef RtpInfo r
        cdef LayerInfo L
        cdef uint8_t *src
        cdef uint8_t *dst
        cdef int64_t now = now_ns(CLOCK_REALTIME)
        for seq in seqs:
            out_seq = <uint16_t>(<int>seq)
            k = offsets_find_out(s, out_seq, &in_seq)      # drops moved the offset: map through its history
            if k < 0:
                continue
            ri = in_seq & t.ring_mask
            if t.ring_seq[ri] != in_seq or t.ring_len[ri] == 0:
                continue
            if <int16_t>(in_seq - s.start_seq) < 0:
                continue
            src = t.ring + ri * SLOT
            src_len = t.ring_len[ri]
            if parse_rtp_c(src, src_len, &r) != 0:
                continue
            layer_info(t.codec, src + r.payload_off, r.payload_len, 0, &L)
            if L.layered and (L.tid > s.cur_tid or L.sid > s.cur_sid):
                continue                                     # a packet of a filtered layer that came late
            marker = 1 if (L.layered and L.end and L.sid == s.cur_sid) else 0
            if self.tx_count >= TX_SLOTS:
                self._flush()
            dst = self.tx_buf + self.tx_count * SLOT
            out_len = rewrite_rtp(src, &r, s, dst, abs_send_time(now), sp.twcc_next)
            wr16(dst + 2, out_seq)
            if marker:
                dst[1] |= 0x80
            if t.codec == CODEC_VP8:
                vp8_set_ids(dst + out_len - r.payload_len - r.pad_len, r.payload_len, s.off_pid[k], s.tl0_offset)
            if s.rtx_pt != 0xff:
                out_len = wrap_rtx(dst, out_len, &r, s)
                if out_len < 0:
                    continue
            if srtp_protect(sp.tx, dst, &out_len) != 0:
                continue
            log_slot = -1
            if s.twcc_out:
                log_slot = sent_log(sp, sp.twcc_next, out_len, now)
                sp.twcc_next += 1
            self._queue(dst, out_len, sp, now, log_slot)
            s.rtx_packets += 1
            sent += 1
        self._flush()
        self.rtx_sent += sent
        return sent

    # ---------------- transport-wide congestion control ----------------

    def twcc_arrivals(self, int peer):
        """Drains the peer's arrival log: [(transport seq, arrival µs), ...] in arrival order since the last
        call (the oldest are gone if more than ARRIVAL_LOG_SIZE arrived in between; see twcc_state)."""
        self._check(peer, self.max_peers, "peer")
        cdef Peer *p = &self.peers[peer]
        if not p.used or p.arr_seq == NULL:
            return []
        return arrival_drain(p)

    def twcc_sent(self, int peer, int base_seq, int count):
        """What the node sent to `peer` as transport seqs base_seq .. base_seq+count-1: per seq (send time µs,
        bytes on the wire) or None when the send log no longer (or never) held it."""
        self._check(peer, self.max_peers, "peer")
        cdef Peer *p = &self.peers[peer]
        if count < 0 or count > 0xFFFF:
            raise ValueError("count out of range")
        cdef list out = []
        cdef int k, i
        cdef uint16_t seq
        if not p.used or p.snd_seq == NULL:
            return [None] * count
        for k in range(count):
            seq = <uint16_t>(base_seq + k)
            i = seq & (SEND_LOG_SIZE - 1)
            # a slot is valid if it holds this seq and was written within the last SEND_LOG_SIZE packets
            if p.snd_seq[i] == seq and p.snd_size[i] != 0 and <uint16_t>(p.twcc_next - seq - 1) < SEND_LOG_SIZE:
                out.append((p.snd_ns[i] // 1000, p.snd_size[i]))
            else:
                out.append(None)
        return out

    def twcc_state(self, int peer):
        """(next transport seq to this peer, packets logged as sent, arrival-log overflows)"""
        self._check(peer, self.max_peers, "peer")
        cdef Peer *p = &self.peers[peer]
        return (p.twcc_next, p.twcc_sent, p.arr_overflow)

    def send_padding(self, int sub, int count, int size=MAX_PADDING):
        """A bandwidth probe: `count` padding-only packets (`size` bytes of RTP padding, 1..255) on the
        subscription's RTX stream, each with the peer's next transport seq, sent at once. Returns
        (first seq, last seq, bytes sent) or None when the subscription has no RTX or no transport-cc."""
        self._check(sub, self.max_subs, "subscription")
        cdef Sub *s = &self.subs[sub]
        if not s.used or s.rtx_pt == 0xff or s.twcc_out == 0:
            return None
        cdef Peer *sp = &self.peers[s.peer]
        if not sp.ready or not sp.has_addr or sp.snd_seq == NULL:
            return None
        if size < 1 or size > MAX_PADDING:
            raise ValueError("padding size must be 1..255")
        if count < 0 or count > TX_SLOTS:
            raise ValueError("count out of range")
        cdef int k, n, slot, sent = 0, total = 0
        cdef uint16_t first = sp.twcc_next
        cdef uint8_t *dst
        cdef int64_t now = now_ns(CLOCK_REALTIME)
        for k in range(count):
            if self.tx_count >= TX_SLOTS:
                self._flush()
            dst = self.tx_buf + self.tx_count * SLOT
            dst[0] = 0x80 | 0x20 | 0x10                  # V=2, P, X
            dst[1] = s.rtx_pt
            wr16(dst + 2, s.rtx_seq)
            wr32(dst + 4, s.last_out_ts)
            wr32(dst + 8, s.rtx_ssrc)
            wr16(dst + 12, 0xBEDE)
            wr16(dst + 14, 1)
            dst[16] = (s.twcc_out << 4) | 1
            wr16(dst + 17, sp.twcc_next)
            dst[19] = 0
            memset(dst + 20, 0, size - 1)
            dst[20 + size - 1] = <uint8_t>size
            n = 20 + size
            if srtp_protect(sp.tx, dst, &n) != 0:
                continue
            s.rtx_seq = <uint16_t>(s.rtx_seq + 1)
            slot = sent_log(sp, sp.twcc_next, n, now)
            sp.twcc_next += 1
            self._queue(dst, n, sp, now, slot)
            sent += 1
            total += n
        self._flush()
        self.probe_packets += sent
        if sent == 0:
            return None
        return (first, <uint16_t>(sp.twcc_next - 1), total)

    # ---------------- state for RTCP generation and metrics ----------------

    def track_stats(self, int track):
        """(received, octets, ext_highest_seq, base_seq, jitter, keyframes, last_keyframe_ns, audio_level, voice)"""
        self._check(track, self.max_tracks, "track")
        cdef Track *t = &self.tracks[track]
        if not t.used:
            return None
        return (t.received, t.octets, t.cycles + t.max_seq, t.base_seq, t.jitter_q4 >> 4, t.keyframes,
                t.last_keyframe_ns, t.audio_level, t.voice)

    def subscription_stats(self, int sub):
        """(packets, octets, last_out_ts, last_send_ns, started, seq_offset, ts_offset, rtx_packets)"""
        self._check(sub, self.max_subs, "subscription")
        cdef Sub *s = &self.subs[sub]
        if not s.used:
            return None
        return (s.packets, s.octets, s.last_out_ts, s.last_send_ns, bool(s.started), s.seq_offset, s.ts_offset,
                s.rtx_packets)

    def counters(self):
        d = {
            "rx_packets": self.rx_packets, "rx_bytes": self.rx_bytes, "forwarded_packets": self.fwd_packets,
            "forwarded_bytes": self.fwd_bytes, "rtx_packets": self.rtx_sent, "rtcp_sent": self.rtcp_sent,
            "batches": self.batches, "probe_packets": self.probe_packets, "layer_filtered": self.layer_filtered,
        }
        d["drops"] = {DROP_REASONS[i]: self.drops[i] for i in range(D_COUNT)}
        return d

    def latency_histogram(self, bint reset=False):
        """Counts of forwarded packets per microsecond of (kernel arrival -> sendmmsg done); last = overflow."""
        out = [self.hist[i] for i in range(HIST_BUCKETS)]
        if reset:
            memset(self.hist, 0, HIST_BUCKETS * sizeof(uint32_t))
        return out


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
    # inbound: a wide replay window tolerates reordering; outbound: libsrtp shifts the window on every protect,
    # and nothing we send is ever reordered before we protect it, so the minimum keeps that cheap
    pol.window_size = 1024 if ssrc_type == 2 else 64
    pol.allow_repeat_tx = 1
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


def floor_loop(int fd, list packets, int profile, bytes key, host_ports, int rounds):
    """The benchmark's floor: SRTP-protect each packet once per destination and sendmmsg it, nothing else.
    Returns the number of datagrams sent."""
    _init_srtp()
    cdef srtp_t s = _new_session(profile, key, 3)
    cdef int ndst = len(host_ports)
    cdef sockaddr_in *dsts = <sockaddr_in *>calloc(ndst, sizeof(sockaddr_in))
    cdef uint8_t *buf = <uint8_t *>malloc(TX_SLOTS * SLOT)
    cdef mmsghdr *msgs = <mmsghdr *>calloc(TX_SLOTS, sizeof(mmsghdr))
    cdef iovec *iov = <iovec *>calloc(TX_SLOTS, sizeof(iovec))
    cdef int i, j, k, cnt = 0, n, total = 0, npk = len(packets)
    cdef uint16_t seq = 0
    cdef const uint8_t *src
    cdef int srclen
    for i in range(ndst):
        host, port = host_ports[i]
        dsts[i].sin_family = AF_INET
        dsts[i].sin_port = ((port & 0xff) << 8) | (port >> 8)
        inet_pton(AF_INET, host.encode(), &dsts[i].sin_addr)
    try:
        for k in range(rounds):
            for j in range(npk):
                pkt = packets[j]
                src = <const uint8_t *>(<bytes>pkt)
                srclen = len(pkt)
                with nogil:
                    for i in range(ndst):
                        memcpy(buf + cnt * SLOT, src, srclen)
                        wr16(buf + cnt * SLOT + 2, seq)
                        wr32(buf + cnt * SLOT + 8, 0x1000 + i)
                        n = srclen
                        srtp_protect(s, buf + cnt * SLOT, &n)
                        iov[cnt].iov_base = buf + cnt * SLOT
                        iov[cnt].iov_len = n
                        memset(&msgs[cnt].msg_hdr, 0, sizeof(msghdr))
                        msgs[cnt].msg_hdr.msg_name = &dsts[i]
                        msgs[cnt].msg_hdr.msg_namelen = sizeof(sockaddr_in)
                        msgs[cnt].msg_hdr.msg_iov = &iov[cnt]
                        msgs[cnt].msg_hdr.msg_iovlen = 1
                        cnt += 1
                        if cnt == TX_SLOTS:
                            total += _send_all(fd, msgs, cnt)
                            cnt = 0
                    seq += 1
        with nogil:
            if cnt:
                total += _send_all(fd, msgs, cnt)
    finally:
        srtp_dealloc(s)
        free(dsts); free(buf); free(msgs); free(iov)
    return total

cdef int _send_all(int fd, mmsghdr *msgs, int cnt) noexcept nogil:
    cdef int sent = 0, r
    while sent < cnt:
        r = sendmmsg(fd, msgs + sent, cnt - sent, 0)
        if r <= 0:
            break
        sent += r
    return sent


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
