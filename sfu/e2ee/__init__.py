"""The node's side of end-to-end encryption: the MLS Delivery Service (docs/e2ee.md). The node orders and routes
opaque handshake blobs; it parses no MLS and holds no member key."""
