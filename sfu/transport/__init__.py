"""How a participant reaches the node: ICE-lite, consent, DTLS (SRTP keys), and the demux of what the engine hands up."""
