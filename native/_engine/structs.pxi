# Part of native/engine.pyx (one extension module, native.engine), included in the order listed there.
# The engine's own sizes, the drop-reason indices, and the C structs of its tables (peers, tracks,
# subscriptions) and of a parsed packet.

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
    INBOX_SIZE = 1024        # items a worker's inbox holds (a power of two); beyond: counted as pipe_full

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
    D_PIPE_FULL = 12
    D_COUNT = 13

if len(DROP_REASONS) != D_COUNT:
    raise ImportError("DROP_REASONS (native/constants.py) and the engine's D_* indices disagree")

cdef struct Peer:
    int used
    int has_addr
    int ready
    int worker                   # the media worker that owns this peer: its SRTP sessions, logs, fan-out
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
    int first_sub[MAX_WORKERS]   # its subscriptions, one list per worker (the subscriber peer's)
    int first_pending[MAX_WORKERS]  # subscriptions waiting for this layer's keyframe to switch onto it
    uint32_t gen                 # add_track count of this slot: a piped packet of a removed track is dropped
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
    # without RTX (video): the last SENT_RING packets exactly as they went out (SRTP-protected), by out seq. A
    # NACK re-sends these bytes; protecting the same SRTP index again with other header bytes (abs-send-time,
    # transport seq, marker) would reuse the AES-GCM nonce / AES-CM keystream. NULL: none kept.
    uint8_t *sent_buf
    uint16_t *sent_len
    uint16_t *sent_seq

cdef enum:
    PIPE_RAW = 1                 # a datagram from a peer another worker owns, as received
    PIPE_FANOUT = 2              # a decrypted packet of a track, for the subscriptions of another worker

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

cdef struct PipeItem:
    int kind                     # PIPE_RAW or PIPE_FANOUT
    int track
    uint32_t gen
    int length
    int key
    int64_t arrival
    uint32_t abs_send
    RtpInfo r
    LayerInfo L
    sockaddr_storage addr

cdef struct Inbox:
    # one worker's shared state: its table lock, and what other workers hand it (a bounded ring under its own
    # leaf mutex, never held while taking another lock) with an eventfd to wake it
    pthread_mutex_t work         # the worker's lock (recursive): Python's table changes take every worker's
    pthread_mutex_t mtx
    int wake_fd
    uint32_t head                # items written (mod 2^32)
    uint32_t tail                # items consumed
    PipeItem *items
    uint8_t *data                # INBOX_SIZE x SLOT bytes, item i's packet at i * SLOT
    uint64_t pushed
