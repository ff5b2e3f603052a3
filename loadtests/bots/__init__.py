"""Media bots: Python WebRTC peers that join a node like a browser would."""
