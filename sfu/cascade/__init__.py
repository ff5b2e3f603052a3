"""Cascading a meeting across nodes of its allowed regions (issue 14): the relay link's engine side (link.py).
The handshake and keys are residency/relay.py; what to relay is sfu/allocation/relaying.py."""
