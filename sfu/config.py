"""A media node's settings (`castellan node` flags, docs/contracts.md)."""

from __future__ import annotations

from dataclasses import dataclass

from native.constants import SENT_RING
from sfu.turn import TurnConfig

SENT_RING_BYTES = SENT_RING * 2048  # one NACK-without-RTX buffer: SENT_RING packets of the engine's 2048-byte slot


@dataclass
class NodeConfig:
    node_id: str = "node-1"
    region: str = "local"
    host: str = "127.0.0.1"  # UDP bind address
    udp_port: int = 40000
    public_ip: str = "127.0.0.1"  # the address put in SDP candidates
    resume_grace: float = 30.0
    consent_timeout: float = 30.0  # RFC 7675: stop sending to a peer whose consent checks stopped
    last_n: int = 0  # each subscriber receives video of the N most recent speakers only (0: everyone's)
    audio_n: int = 0  # ... and audio of the N loudest, plus the dominant speaker (0: everyone's)
    speaker_interval: float = 0.1
    max_peers: int = 1024
    max_tracks: int = 4096
    max_subs: int = 16384
    # node-wide cap on NACK-without-RTX buffers (512 KiB per video subscription without RTX); at the cap the one
    # that sent least recently is evicted (castellan_nack_buffer_evictions_total)
    nack_buffer_mb: int = 256
    measure_latency: bool = True
    media_thread: bool = True  # forward on dedicated native threads (False: from the event loop)
    media_workers: int = 0  # media workers (native threads, sfu/workers.py); 0: one per core the node is given
    room_spread_at: int = 16  # from this many participants on, a room's newcomers go to the least-loaded worker
    # behind a reverse proxy (docs/deploy.md, "TLS"): X-Forwarded-For counts only from these CIDRs, read from the
    # right like the control plane's --trusted-proxies (signalling/control/clientaddr.py); 0 hops = recursive
    trusted_proxies: tuple[str, ...] = ()
    forwarded_hops: int = 0
    turn: TurnConfig | None = None  # the region's TURN: `joined` carries credentials for it (sfu/turn.py)

    @property
    def max_sent_rings(self) -> int:
        """How many NACK-without-RTX buffers nack_buffer_mb holds (the engine's max_sent_rings)."""
        return max(0, self.nack_buffer_mb) * 2**20 // SENT_RING_BYTES
