"""Forwarding benchmark: light bench peers (ICE/DTLS/SRTP on plain UDP sockets) drive a media node process;
`python -m loadtests.bench.forwarding` prints the table (docs/benchmark.md)."""
