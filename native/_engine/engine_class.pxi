# Part of native/engine.pyx (one extension module, native.engine), included in the order listed there.
# ---- the Engine: tables, the per-packet path (poll / serve), sends decided by Python, stats ----

cdef class Engine:
    """The native forwarding engine of one node: `workers` media workers over one set of tables.

    Python creates and calls the primary (worker 0); it makes one more Engine per further worker that shares
    the primary's tables and socket but has its own batch buffers, counters, lock and inbox. Worker 0 owns the
    socket: it receives every datagram and hands a datagram of a peer another worker owns to that worker's inbox
    (PIPE_RAW). A worker that decrypts a packet fans it out to its own subscriptions and hands it, decrypted, to
    each other worker with subscriptions to that track or waiting to switch onto it (PIPE_FANOUT): a peer's SRTP
    sessions, transport-cc logs and subscriptions are only ever touched by its own worker (or by Python holding
    every worker's lock)."""

    cdef int fd
    cdef int max_peers, max_tracks, max_subs
    cdef Peer *peers
    cdef Track *tracks
    cdef Sub *subs
    cdef Table *addr_table
    cdef Table *ssrc_table
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
    cdef uint64_t buffer_bytes       # bytes mapped for track rings and sent rings now (map_buffer)
    cdef int sent_rings, max_sent_rings  # sent rings (NACK without RTX) held now, and the node-wide cap
    cdef uint64_t sent_ring_evictions
    cdef uint32_t *hist
    cdef int measure_latency
    cdef pthread_mutex_t *lock   # this worker's lock (recursive; in its Inbox): held while it works a batch
    cdef volatile int running
    cdef int index, nworkers     # this worker, and how many share the tables
    cdef int shared              # 1: a further worker (tables belong to the primary)
    cdef list others             # primary only: the Engines of workers 1..n-1
    cdef Inbox *inbox            # one per worker, owned by the primary
    cdef uint32_t wake_mask      # workers handed items since they were last woken
    cdef uint32_t woken_mask     # workers woken during this batch already
    cdef uint64_t piped          # items this worker handed to others
    cdef uint64_t pipe_in        # items it took from its inbox

    def __cinit__(self, int fd, int max_peers=1024, int max_tracks=4096, int max_subs=16384,
                  bint measure_latency=True, int max_sent_rings=512, int workers=1, Engine _primary=None,
                  int _index=0):
        cdef int i, one = 1
        if max_sent_rings < 0:
            raise ValueError("max_sent_rings must be >= 0")
        if workers < 1 or workers > MAX_WORKERS:
            raise ValueError(f"workers must be 1..{MAX_WORKERS}")
        self.index = _index
        self.nworkers = workers
        self.others = []
        self.max_sent_rings = max_sent_rings
        self.fd = fd
        self.max_peers = max_peers
        self.max_tracks = max_tracks
        self.max_subs = max_subs
        self.rx_buf = <uint8_t *>malloc(RX_BATCH * SLOT)
        self.rx_ctrl = <uint8_t *>calloc(RX_BATCH, 64)
        self.tx_buf = <uint8_t *>malloc(TX_SLOTS * SLOT)
        self.hist = <uint32_t *>calloc(HIST_BUCKETS, sizeof(uint32_t))
        if self.rx_buf == NULL or self.rx_ctrl == NULL or self.tx_buf == NULL or self.hist == NULL:
            raise MemoryError()
        for i in range(RX_BATCH):
            self.rx_iov[i].iov_base = self.rx_buf + i * SLOT
            self.rx_iov[i].iov_len = SLOT
        for i in range(TX_SLOTS):
            self.tx_iov[i].iov_base = self.tx_buf + i * SLOT
        self.measure_latency = 1 if measure_latency else 0
        if _primary is not None:
            # a further worker: the primary's tables, inbox array and socket
            self.shared = 1
            self.peers, self.tracks, self.subs = _primary.peers, _primary.tracks, _primary.subs
            self.addr_table, self.ssrc_table = _primary.addr_table, _primary.ssrc_table
            self.inbox = _primary.inbox
            self.lock = &self.inbox[_index].work
            return
        self.peers = <Peer *>calloc(max_peers, sizeof(Peer))
        self.tracks = <Track *>calloc(max_tracks, sizeof(Track))
        self.subs = <Sub *>calloc(max_subs, sizeof(Sub))
        self.addr_table = <Table *>calloc(1, sizeof(Table))
        self.ssrc_table = <Table *>calloc(1, sizeof(Table))
        self.inbox = <Inbox *>calloc(workers, sizeof(Inbox))
        if (self.peers == NULL or self.tracks == NULL or self.subs == NULL or self.addr_table == NULL
                or self.ssrc_table == NULL or self.inbox == NULL):
            raise MemoryError()
        table_init(self.addr_table, 4096)
        table_init(self.ssrc_table, 16384)
        cdef pthread_mutexattr_t attr
        pthread_mutexattr_init(&attr)
        pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE)
        for i in range(workers):
            pthread_mutex_init(&self.inbox[i].work, &attr)
            pthread_mutex_init(&self.inbox[i].mtx, NULL)
            self.inbox[i].wake_fd = -1
            if workers > 1:
                self.inbox[i].wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)
                self.inbox[i].items = <PipeItem *>calloc(INBOX_SIZE, sizeof(PipeItem))
                self.inbox[i].data = <uint8_t *>malloc(INBOX_SIZE * SLOT)
                if self.inbox[i].wake_fd < 0 or self.inbox[i].items == NULL or self.inbox[i].data == NULL:
                    raise MemoryError("media worker inbox")
        self.lock = &self.inbox[0].work
        if self.measure_latency:
            setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(int))
        _init_srtp()
        for i in range(1, workers):
            self.others.append(Engine(fd, max_peers, max_tracks, max_subs, measure_latency, max_sent_rings,
                                      workers, self, i))

    def __dealloc__(self):
        cdef int i
        free(self.rx_buf)
        free(self.rx_ctrl)
        free(self.tx_buf)
        free(self.hist)
        if self.shared:
            return
        if self.inbox != NULL:
            for i in range(self.nworkers):
                if self.inbox[i].wake_fd >= 0:
                    c_close(self.inbox[i].wake_fd)
                free(self.inbox[i].items)
                free(self.inbox[i].data)
            free(self.inbox)
        if self.peers != NULL:
            for i in range(self.max_peers):
                self._free_peer_srtp(i)
                free_twcc_logs(&self.peers[i])
            free(self.peers)
        if self.subs != NULL:
            for i in range(self.max_subs):
                free_sent_ring(&self.subs[i])
        if self.tracks != NULL:
            for i in range(self.max_tracks):
                if self.tracks[i].ring != NULL:
                    unmap_buffer(self.tracks[i].ring, (<size_t>self.tracks[i].ring_mask + 1) * SLOT)
                    free(self.tracks[i].ring_len); free(self.tracks[i].ring_seq)
            free(self.tracks)
        free(self.subs)
        if self.addr_table != NULL:
            table_free(self.addr_table)
            free(self.addr_table)
        if self.ssrc_table != NULL:
            table_free(self.ssrc_table)
            free(self.ssrc_table)

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

    def add_peer(self, int peer, int worker=0):
        """A new peer, owned by media worker `worker` (its SRTP sessions, its subscriptions' fan-out)."""
        self._check(peer, self.max_peers, "peer")
        self._check(worker, self.nworkers, "worker")
        if self.peers[peer].used:
            raise ValueError(f"peer {peer} already exists")
        memset(&self.peers[peer], 0, sizeof(Peer))
        self.peers[peer].used = 1
        self.peers[peer].worker = worker

    def peer_worker(self, int peer):
        """The worker that owns `peer`, or -1 for no such peer."""
        self._check(peer, self.max_peers, "peer")
        return self.peers[peer].worker if self.peers[peer].used else -1

    def worker_count(self):
        return self.nworkers

    def worker_counters(self):
        """Per worker: (datagrams it handled, packets it sent, items it handed to others, items it took)."""
        cdef Engine lane
        out = []
        for i in range(self.nworkers):
            lane = self._lane(i)
            out.append((lane.rx_packets, lane.fwd_packets, lane.piped, lane.pipe_in))
        return out

    cdef Engine _lane(self, int i):
        return self if i == 0 else <Engine>self.others[i - 1]

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
            table_del(self.addr_table, p.key_a, p.key_b)
        memcpy(&p.addr, &sa, sizeof(sa))
        addr_key(&p.addr, &p.key_a, &p.key_b)
        if table_put(self.addr_table, p.key_a, p.key_b, peer) != 0:
            raise MemoryError("address table full")
        p.has_addr = 1

    def clear_peer_address(self, int peer):
        """Stops sending to the peer (consent expired, RFC 7675) until a valid STUN binds it again."""
        self._check(peer, self.max_peers, "peer")
        cdef Peer *p = &self.peers[peer]
        if p.has_addr:
            table_del(self.addr_table, p.key_a, p.key_b)
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
            table_del(self.addr_table, p.key_a, p.key_b)
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
        if table_get(self.ssrc_table, peer, ssrc) >= 0:
            raise ValueError(f"ssrc {ssrc} already published by peer {peer}")
        cdef Track *t = &self.tracks[track]
        cdef uint32_t gen = t.gen + 1
        cdef int w
        memset(t, 0, sizeof(Track))
        t.gen = gen
        t.ring = map_buffer(<size_t>buffer_packets * SLOT)
        t.ring_len = <uint16_t *>calloc(buffer_packets, sizeof(uint16_t))
        t.ring_seq = <uint16_t *>calloc(buffer_packets, sizeof(uint16_t))
        t.ring_mask = buffer_packets - 1
        if t.ring == NULL or t.ring_len == NULL or t.ring_seq == NULL:
            unmap_buffer(t.ring, <size_t>buffer_packets * SLOT); free(t.ring_len); free(t.ring_seq)
            memset(t, 0, sizeof(Track))
            t.gen = gen
            raise MemoryError()
        self.buffer_bytes += <size_t>buffer_packets * SLOT
        t.used = 1
        t.peer = peer
        t.ssrc = ssrc
        t.codec = codec
        t.clock_rate = clock_rate
        for w in range(MAX_WORKERS):
            t.first_sub[w] = -1
            t.first_pending[w] = -1
        t.audio_level = -1
        t.max_tid_seen = -1
        t.max_sid_seen = -1
        if table_put(self.ssrc_table, peer, ssrc, track) != 0:
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
                _unlink(self.subs, &t.first_pending[self.peers[self.subs[i].peer].worker], i, 1)
                self.subs[i].target = -1
        table_del(self.ssrc_table, t.peer, t.ssrc)
        unmap_buffer(t.ring, (<size_t>t.ring_mask + 1) * SLOT)
        self.buffer_bytes -= (<size_t>t.ring_mask + 1) * SLOT
        free(t.ring_len); free(t.ring_seq)
        cdef uint32_t gen = t.gen
        memset(t, 0, sizeof(Track))
        t.gen = gen                  # a packet still in a worker's inbox finds another generation: dropped

    def add_subscription(self, int sub, int track, int peer, unsigned int ssrc, int pt,
                         unsigned int rtx_ssrc=0, int rtx_pt=-1, bytes ext_map=b"", int abs_send_out=0,
                         int initial_seq=0, unsigned int ts_offset=0, int twcc_out=0, bint paused=False):
        """`peer` receives `track` as `ssrc`/`pt`. ext_map[i] is the subscriber's id for publisher id i.
        twcc_out (1..14): the subscriber's transport-wide-cc id; every packet of this subscription then carries
        the peer's next transport sequence number and is logged for twcc_sent(). `paused`: created paused, in the
        same locked call, so not one packet is forwarded before the pause (a room held for its recorder)."""
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
        s.paused = 1 if paused else 0
        cdef int i
        for i in range(len(ext_map)):
            s.ext_map[i] = ext_map[i]
        if s.rtx_pt == 0xff and t.codec != CODEC_OPUS and t.codec != CODEC_OTHER:
            # video without RTX: NACKs are served from what was sent (the node negotiates no NACK for audio),
            # within the node-wide cap on such rings
            if self.sent_rings >= self.max_sent_rings:
                self._evict_sent_ring()
            if self.sent_rings < self.max_sent_rings:
                if alloc_sent_ring(s) != 0:
                    memset(s, 0, sizeof(Sub))
                    raise MemoryError()
                self.sent_rings += 1
                self.buffer_bytes += SENT_RING * SLOT
        cdef int w = self.peers[peer].worker
        s.next = t.first_sub[w]
        t.first_sub[w] = sub

    def remove_subscription(self, int sub):
        self._check(sub, self.max_subs, "subscription")
        cdef Sub *s = &self.subs[sub]
        if not s.used:
            return
        cdef int w = self.peers[s.peer].worker
        _unlink(self.subs, &self.tracks[s.track].first_sub[w], sub, 0)
        if s.target >= 0:
            _unlink(self.subs, &self.tracks[s.target].first_pending[w], sub, 1)
        self._drop_sent_ring(s)
        self._drop_srtp_streams(s)
        memset(s, 0, sizeof(Sub))

    cdef void _drop_srtp_streams(self, Sub *s) noexcept:
        """The subscriber's outbound SRTP session cloned a stream for each SSRC this subscription sent (~384
        bytes each): they go with it, or a participant who stays keeps three per publisher that came and went
        (issue 18). Its SSRCs are never used again (every subscription gets new ones); a stream never cloned
        (nothing sent) is simply not found."""
        cdef srtp_t tx = self.peers[s.peer].tx
        if tx == NULL:
            return
        srtp_remove_stream(tx, htonl(s.ssrc))
        if s.rtx_ssrc:
            srtp_remove_stream(tx, htonl(s.rtx_ssrc))

    cdef void _drop_sent_ring(self, Sub *s) noexcept:
        if s.sent_buf != NULL:
            free_sent_ring(s)
            self.sent_rings -= 1
            self.buffer_bytes -= SENT_RING * SLOT

    cdef void _evict_sent_ring(self) noexcept:
        """At the cap, the ring of the subscription that sent least recently (paused, unwatched, stalled: the
        one least likely to be asked for a retransmission) goes to the newcomer; ties: the lowest index. The
        evicted subscription goes on without NACK service. Reference: ReferenceForwarder._evict_sent_ring."""
        cdef int i, victim = -1
        for i in range(self.max_subs):
            if self.subs[i].used and self.subs[i].sent_buf != NULL and (
                    victim < 0 or self.subs[i].last_send_ns < self.subs[victim].last_send_ns):
                victim = i
        if victim >= 0:
            self._drop_sent_ring(&self.subs[victim])
            self.sent_ring_evictions += 1

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
        cdef int w = self.peers[s.peer].worker
        if s.target >= 0:
            _unlink(self.subs, &self.tracks[s.target].first_pending[w], sub, 1)
            s.target = -1
        if track == s.track:
            return
        s.target = track
        s.next_pending = self.tracks[track].first_pending[w]
        self.tracks[track].first_pending[w] = sub

    def subscription_layer(self, int sub):
        """(current track, pending target or -1, switches so far)"""
        self._check(sub, self.max_subs, "subscription")
        cdef Sub *s = &self.subs[sub]
        return (s.track, s.target, s.switches) if s.used else None

    def set_paused(self, int sub, bint paused):
        """Stops or resumes forwarding a subscription (last-N, audio-N, an unwatched tile). It resumes with sequence
        numbers continuing where they stopped (audio at once, video at a keyframe)."""
        self._check(sub, self.max_subs, "subscription")
        cdef Sub *s = &self.subs[sub]
        if not s.used:
            return
        if s.paused and not paused:
            # restarted: the copy goes on at the next sequence number (a hole would read as loss at the receiver;
            # the timestamp keeps the sender's clock); video at a keyframe
            s.started = 0
            s.need_keyframe = 1 if self.tracks[s.track].codec not in (CODEC_OPUS, CODEC_OTHER) else 0
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
        a list of (kind, peer, (host, port), payload bytes). For an engine driven by the event loop: with several
        workers, this thread also works every worker's inbox (the same forwarding, on one thread)."""
        cdef list events = []
        cdef int b, n
        for b in range(max_batches):
            with nogil:
                pthread_mutex_lock(self.lock)
                n = self._recv_batch()
                pthread_mutex_unlock(self.lock)
            if n >= 0:
                self._collect(events)
            if self.nworkers > 1:
                self._poll_inboxes(events)
            if n < RX_BATCH:
                break
        return events

    cdef void _poll_inboxes(self, list events):
        """poll() with several workers: works every inbox until all are empty (a fan-out handed on may hand a
        packet back to worker 0), bounded by what INBOX_SIZE lets the workers hold."""
        cdef Engine lane
        cdef int i, k, total, rounds
        for rounds in range(4 * INBOX_SIZE // RX_BATCH * MAX_WORKERS):
            total = 0
            for i in range(self.nworkers):
                lane = self._lane(i)
                with nogil:
                    pthread_mutex_lock(lane.lock)
                    k = lane._take_inbox()
                    pthread_mutex_unlock(lane.lock)
                lane._collect(events)
                total += k
            if total == 0:
                break

    cdef void _collect(self, list events):
        cdef int i
        for i in range(self.ev_count):
            events.append((self.ev_kind[i], self.ev_peer[i], self._addr_tuple(self.ev_slot[i]),
                           PyBytes_FromStringAndSize(<char *>(self.rx_buf + self.ev_slot[i] * SLOT),
                                                     self.ev_len[i])))
        self.ev_count = 0

    def serve(self, callback, int worker=0):
        """One media worker's loop on its own thread: forwards without the GIL; takes the GIL only to hand
        control events to `callback` (a list, as poll() returns). Worker 0 owns the socket; the others wait on
        their inbox. Run one thread per worker (native.threaded.MediaWorkers) until stop_serving(). Python calls
        on the engine from other threads must hold every worker's lock (native.threaded.ThreadedEngine)."""
        self._check(worker, self.nworkers, "worker")
        self._lane(worker)._serve(callback)

    cdef void _serve(self, callback):
        cdef pollfd pfd[2]
        cdef int r, n, b, nfds, more = 0
        cdef uint64_t val
        cdef int wake_fd = self.inbox[self.index].wake_fd
        self.running = 1
        with nogil:
            while self.running:
                nfds = 0
                if self.index == 0:
                    pfd[0].fd = self.fd
                    pfd[0].events = POLLIN
                    pfd[0].revents = 0
                    nfds = 1
                if wake_fd >= 0:
                    pfd[nfds].fd = wake_fd
                    pfd[nfds].events = POLLIN
                    pfd[nfds].revents = 0
                    nfds += 1
                r = c_poll(pfd, nfds, 0 if more else 200)
                if r < 0 or (r == 0 and not more):
                    continue
                if wake_fd >= 0:
                    c_read(wake_fd, &val, 8)    # reset before draining: a later hand-off wakes us again
                if self.index == 0:
                    for b in range(16):
                        pthread_mutex_lock(self.lock)
                        n = self._recv_batch()
                        pthread_mutex_unlock(self.lock)
                        self._wake_others()
                        if self.ev_count > 0:
                            with gil:
                                self._deliver(callback)
                        if n < RX_BATCH:
                            break
                more = 0
                if wake_fd >= 0:
                    for b in range(16):
                        pthread_mutex_lock(self.lock)
                        n = self._take_inbox()
                        pthread_mutex_unlock(self.lock)
                        self._wake_others()
                        if self.ev_count > 0:
                            with gil:
                                self._deliver(callback)
                        if n < RX_BATCH:
                            break
                    more = 1 if n == RX_BATCH else 0   # bounded per wake-up; the socket gets its turn first

    cdef void _deliver(self, callback):
        cdef list events = []
        self._collect(events)
        try:
            callback(events)
        except BaseException:  # noqa - the media loop outlives any handler bug
            pass

    def stop_serving(self):
        cdef Engine lane
        cdef uint64_t one = 1
        for i in range(self.nworkers):
            lane = self._lane(i)
            lane.running = 0
            if self.inbox[i].wake_fd >= 0:
                c_write(self.inbox[i].wake_fd, &one, 8)

    def _lock(self):
        """Takes every worker's lock, in worker order (the only place that holds more than one)."""
        cdef int i
        with nogil:
            for i in range(self.nworkers):
                pthread_mutex_lock(&self.inbox[i].work)

    def _unlock(self):
        cdef int i
        for i in range(self.nworkers - 1, -1, -1):
            pthread_mutex_unlock(&self.inbox[i].work)

    # ---------------- hand-offs between workers ----------------

    cdef void _pipe(self, int w, int kind, int track, uint8_t *p, int n, RtpInfo *r, int key, int64_t arrival,
                    uint32_t abs_send, LayerInfo *L, sockaddr_storage *addr) noexcept nogil:
        """Copies an item into worker w's inbox (full: counted as pipe_full, never waits); wakes w at its
        first item of this batch so it starts while this worker goes on."""
        cdef Inbox *ib = &self.inbox[w]
        cdef uint32_t i
        cdef PipeItem *it
        cdef uint64_t one = 1
        pthread_mutex_lock(&ib.mtx)
        if ib.head - ib.tail >= INBOX_SIZE:
            pthread_mutex_unlock(&ib.mtx)
            self.drops[D_PIPE_FULL] += 1
            return
        i = ib.head & (INBOX_SIZE - 1)
        it = &ib.items[i]
        it.kind = kind
        it.track = track
        it.length = n
        it.key = key
        it.arrival = arrival
        it.abs_send = abs_send
        if kind == PIPE_FANOUT:
            it.gen = self.tracks[track].gen
            memcpy(&it.r, r, sizeof(RtpInfo))
            memcpy(&it.L, L, sizeof(LayerInfo))
        else:
            memcpy(&it.addr, addr, sizeof(sockaddr_storage))
        memcpy(ib.data + <size_t>i * SLOT, p, n)
        ib.head += 1
        ib.pushed += 1
        pthread_mutex_unlock(&ib.mtx)
        self.piped += 1
        if not (self.woken_mask & (1u << w)):
            self.woken_mask |= 1u << w
            c_write(ib.wake_fd, &one, 8)
        else:
            self.wake_mask |= 1u << w

    cdef void _wake_others(self) noexcept nogil:
        """After a batch: wakes the workers handed items since their first wake-up of the batch."""
        cdef int w
        cdef uint64_t one = 1
        if self.wake_mask:
            for w in range(self.nworkers):
                if self.wake_mask & (1u << w):
                    c_write(self.inbox[w].wake_fd, &one, 8)
        self.wake_mask = 0
        self.woken_mask = 0

    cdef int _take_inbox(self) noexcept nogil:
        """Works up to RX_BATCH items of this worker's inbox: a datagram as if received here, or a fan-out to
        this worker's subscriptions (dropped when its track was removed since). Returns the count taken."""
        cdef Inbox *ib = &self.inbox[self.index]
        cdef uint32_t head, tail, slot
        cdef int k = 0
        cdef PipeItem *it
        cdef uint8_t *src
        cdef Track *t
        self.ev_count = 0
        if ib.items == NULL:
            return 0
        pthread_mutex_lock(&ib.mtx)
        head = ib.head
        tail = ib.tail
        pthread_mutex_unlock(&ib.mtx)
        while tail != head and k < RX_BATCH:
            slot = tail & (INBOX_SIZE - 1)
            it = &ib.items[slot]
            src = ib.data + <size_t>slot * SLOT
            if it.kind == PIPE_RAW:
                memcpy(self.rx_buf + k * SLOT, src, it.length)
                memcpy(&self.rx_addr[k], &it.addr, sizeof(sockaddr_storage))
                self.rx_arrival[k] = it.arrival
                self._handle(k, it.length)
            else:
                t = &self.tracks[it.track]
                if t.used and t.gen == it.gen:
                    self._fanout(it.track, src, &it.r, it.key, it.arrival, it.abs_send, &it.L)
            k += 1
            tail += 1
            if self.tx_count >= FLUSH_AT:
                self._flush()
        self._flush()
        pthread_mutex_lock(&ib.mtx)
        ib.tail = tail
        pthread_mutex_unlock(&ib.mtx)
        self.pipe_in += k
        return k

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
            if self.nworkers > 1 and self._dispatch(i, self.rx_msgs[i].msg_len):
                continue
            self._handle(i, self.rx_msgs[i].msg_len)
            if self.tx_count >= FLUSH_AT:
                # send each packet's fan-out as soon as it is big enough to batch well: a copy then waits for
                # its own packet's fan-out, not for the whole receive batch
                self._flush()
        self._flush()
        return n

    cdef int _dispatch(self, int slot, int n) noexcept nogil:
        """Worker 0, with several workers: hands a datagram from a peer another worker owns to that worker
        (1), or leaves it here (0: this worker's peers, unknown addresses, sizes _handle refuses)."""
        cdef uint64_t ka, kb
        cdef int peer, w
        if n < 1 or n >= SLOT - 16:
            return 0
        addr_key(&self.rx_addr[slot], &ka, &kb)
        peer = table_get(self.addr_table, ka, kb)
        if peer < 0:
            return 0
        w = self.peers[peer].worker
        if w == self.index:
            return 0
        self._pipe(w, PIPE_RAW, -1, self.rx_buf + slot * SLOT, n, NULL, 0, self.rx_arrival[slot], 0, NULL,
                   &self.rx_addr[slot])
        return 1

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
        peer = table_get(self.addr_table, ka, kb)
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
        cdef int ti = table_get(self.ssrc_table, peer, r.ssrc)
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
        cdef int w
        if self.nworkers > 1:
            # the subscriptions other workers own: hand them the decrypted packet first, so they work in parallel.
            # While one of them waits to switch onto this layer every packet goes, not only keyframes: that worker
            # switches when it takes the keyframe from its inbox, after this one has gone on with the rest of the
            # keyframe's packets, which it would otherwise never get (a sequence hole at its subscriber)
            for w in range(self.nworkers):
                if w != self.index and (t.first_sub[w] >= 0 or t.first_pending[w] >= 0):
                    self._pipe(w, PIPE_FANOUT, ti, p, n, &r, key, arrival, abs_send, &L, NULL)
        self._fanout(ti, p, &r, key, arrival, abs_send, &L)

    cdef void _fanout(self, int ti, uint8_t *p, RtpInfo *r, int key, int64_t arrival, uint32_t abs_send,
                      LayerInfo *L) noexcept nogil:
        """A track's packet to the subscriptions this worker owns."""
        cdef Track *t = &self.tracks[ti]
        cdef int si = t.first_sub[self.index]
        cdef Sub *s
        while si >= 0:
            s = &self.subs[si]
            si = s.next
            self._send_to(s, t, p, r, key, arrival, abs_send, L)
        # simulcast: subscriptions waiting to switch onto this layer move at its keyframe
        if key and t.first_pending[self.index] >= 0:
            si = t.first_pending[self.index]
            while si >= 0:
                s = &self.subs[si]
                si = s.next_pending
                if s.paused or not self.peers[s.peer].ready:
                    continue
                self._switch(s, ti, r, arrival)
                self._send_to(s, t, p, r, key, arrival, abs_send, L)

    cdef void _switch(self, Sub *s, int ti, RtpInfo *r, int64_t arrival) noexcept nogil:
        """Moves a subscription onto layer `ti` at its keyframe: one continuous stream for the subscriber."""
        cdef Track *t = &self.tracks[ti]
        cdef Track *old = &self.tracks[s.track]
        cdef int idx = <int>(s - self.subs)
        _unlink(self.subs, &old.first_sub[self.index], idx, 0)
        s.next = t.first_sub[self.index]
        t.first_sub[self.index] = idx
        # on the layer's list before it leaves the waiting one: another worker handing this layer on (_forward)
        # always sees this worker with a subscription to it
        _unlink(self.subs, &t.first_pending[self.index], idx, 1)
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
        if s.sent_buf != NULL:
            keep_sent(s, dst, out_len)
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
        return self._send_rtcp_buf(p, buf, n)

    cdef bint _send_rtcp_buf(self, Peer *p, uint8_t *buf, int n) noexcept:
        if srtp_protect_rtcp(p.tx, buf, &n) != 0:
            return False
        if sendto(self.fd, buf, n, 0, <sockaddr *>&p.addr, p.addrlen) < 0:
            return False
        self.rtcp_sent += 1
        return True

    def sender_reports(self, int peer, uint64_t ntp, subs):
        """RTCP sender reports for what `peer` receives, built and sent here: one call per participant and
        second instead of a stats read per subscription and a send per compound packet. For each (sub, rtp_ts)
        - rtp_ts on the publisher's RTP timeline; the subscription's timestamp offset is added - an SR with the
        subscription's SSRC, packet and octet counts (RFC 3550 6.4.1), SRS_PER_PACKET per compound packet.
        Subscriptions unknown, of another peer or not started yet are skipped. Returns the SRs sent."""
        self._check(peer, self.max_peers, "peer")
        cdef Peer *p = &self.peers[peer]
        if not p.ready or not p.has_addr:
            return 0
        cdef uint8_t buf[SLOT]
        cdef uint8_t *o
        cdef int n = 0, count = 0, sent = 0, si
        cdef uint32_t ts
        cdef Sub *s
        for item in subs:
            si = item[0]
            ts = <uint32_t>(<uint64_t>item[1] & 0xFFFFFFFF)
            if si < 0 or si >= self.max_subs:
                continue
            s = &self.subs[si]
            if not s.used or s.peer != peer or not s.started:
                continue
            o = buf + n
            o[0] = 0x80
            o[1] = 200
            wr16(o + 2, 6)                               # 7 words - 1
            wr32(o + 4, s.ssrc)
            wr32(o + 8, <uint32_t>(ntp >> 32))
            wr32(o + 12, <uint32_t>(ntp & 0xFFFFFFFF))
            wr32(o + 16, ts + s.ts_offset)
            wr32(o + 20, <uint32_t>s.packets)
            wr32(o + 24, <uint32_t>s.octets)
            n += 28
            count += 1
            if count == SRS_PER_PACKET:
                if self._send_rtcp_buf(p, buf, n):
                    sent += count
                n = count = 0
        if count and self._send_rtcp_buf(p, buf, n):
            sent += count
        return sent

    def send_raw(self, int peer, bytes data):
        """Sends an unprotected datagram (DTLS) to the peer's bound address."""
        self._check(peer, self.max_peers, "peer")
        cdef Peer *p = &self.peers[peer]
        if not p.has_addr:
            return False
        return sendto(self.fd, <const char *>data, len(data), 0, <sockaddr *>&p.addr, p.addrlen) >= 0

    def retransmit(self, int sub, seqs):
        """Serves a subscriber's NACK (its sequence numbers). With RTX: from the track's plaintext buffer,
        rewritten and sent as RTX (a new RTX sequence number: a new SRTP index). Without RTX: the very bytes
        that went out under each sequence number, from the subscription's sent ring, never protected again (a
        second encryption of one SRTP index with other header bytes would reuse its AES-GCM nonce / AES-CM
        keystream); what the ring no longer holds is not re-sent. Returns the count sent."""
        self._check(sub, self.max_subs, "subscription")
        cdef Sub *s = &self.subs[sub]
        if not s.used or not s.started:
            return 0
        cdef Track *t = &self.tracks[s.track]
        cdef Peer *sp = &self.peers[s.peer]
        if not sp.ready or not sp.has_addr:
            return 0
        if s.rtx_pt == 0xff:
            return self._resend_as_sent(s, sp, seqs)
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

    cdef int _resend_as_sent(self, Sub *s, Peer *sp, seqs) except -1:
        """retransmit() without RTX: the kept protected bytes, byte for byte (same transport seq too: the send
        log keeps the first send's time)."""
        cdef int sent = 0, i, n
        cdef uint8_t *dst
        cdef int64_t now = now_ns(CLOCK_REALTIME)
        for seq in seqs:
            i = find_sent(s, <uint16_t>(<int>seq))
            if i < 0:
                continue
            n = s.sent_len[i]
            if self.tx_count >= TX_SLOTS:
                self._flush()
            dst = self.tx_buf + self.tx_count * SLOT
            memcpy(dst, s.sent_buf + i * SLOT, n)
            self._queue(dst, n, sp, now, -1)
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
        """Totals over every worker."""
        cdef Engine w
        cdef uint64_t drops[D_COUNT]
        memset(drops, 0, sizeof(drops))
        d = {
            "rx_packets": 0, "rx_bytes": 0, "forwarded_packets": 0, "forwarded_bytes": 0, "rtx_packets": 0,
            "rtcp_sent": 0, "batches": 0, "probe_packets": 0, "layer_filtered": 0, "piped": 0,
            "buffer_bytes": self.buffer_bytes, "sent_rings": self.sent_rings,
            "sent_ring_evictions": self.sent_ring_evictions,
        }
        for k in range(self.nworkers):
            w = self._lane(k)
            d["rx_packets"] += w.rx_packets
            d["rx_bytes"] += w.rx_bytes
            d["forwarded_packets"] += w.fwd_packets
            d["forwarded_bytes"] += w.fwd_bytes
            d["rtx_packets"] += w.rtx_sent
            d["rtcp_sent"] += w.rtcp_sent
            d["batches"] += w.batches
            d["probe_packets"] += w.probe_packets
            d["layer_filtered"] += w.layer_filtered
            d["piped"] += w.piped
            for i in range(D_COUNT):
                drops[i] += w.drops[i]
        d["drops"] = {DROP_REASONS[i]: drops[i] for i in range(D_COUNT)}
        return d

    def latency_histogram(self, bint reset=False):
        """Counts of forwarded packets per microsecond of (kernel arrival -> sendmmsg done), over every worker;
        last = overflow."""
        cdef Engine w
        out = [0] * HIST_BUCKETS
        for k in range(self.nworkers):
            w = self._lane(k)
            for i in range(HIST_BUCKETS):
                out[i] += w.hist[i]
            if reset:
                memset(w.hist, 0, HIST_BUCKETS * sizeof(uint32_t))
        return out
