# Part of native/engine.pyx (one extension module, native.engine), included in the order listed there.
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
