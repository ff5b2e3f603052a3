"""Castellan signalling: the control plane (links, tokens, admin API) and the node's WebSocket endpoint."""
