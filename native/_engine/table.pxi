# Part of native/engine.pyx (one extension module, native.engine), included in the order listed there.
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
