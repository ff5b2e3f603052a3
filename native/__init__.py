"""Castellan's per-packet path in Cython: SRTP (libsrtp2 + OpenSSL), RTP/RTCP parsing, rewrite, batched I/O."""
