"""Castellan media node: transports, rooms, forwarding decisions, RTCP."""
