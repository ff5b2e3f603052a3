"""The node's HTTP side: WebSocket signalling (docs/protocol.md), health, metrics, admin calls, its dev page."""
