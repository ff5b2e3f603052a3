"""Tests of sfu/app (the node's WebSocket signalling: joining, sessions, resume)."""
