# Part of native/engine.pyx (one extension module, native.engine), included in the order listed there.
# ---------------- the benchmark's floor: SRTP protect + sendmmsg, nothing else ----------------

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
