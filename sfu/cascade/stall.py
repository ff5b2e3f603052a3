"""How long a relay link may wait on a peer node that does not answer its posts in time (issue 14). A node that is
only slow — a starved host whose event loop runs seconds late, a paused process — still holds the link, its
engine peer and every subscription to what it relays; closing the link at the first post that times out made the
other node open a new one, and every far participant lost its tracks and had to subscribe again. So a timed-out
post is retried (its sealed messages first, in order: a message the peer applied late is a replay there, skipped)
for up to `GRACE` seconds after the first one went unanswered, with at most `MAX_BACKLOG` messages
(`MAX_BACKLOG_BYTES`) waiting;
past either the peer counts as gone and the link closes as for a refused post. A peer that refuses the
connection (its process is gone) is not waited for (sfu/cascade/dial.py `PeerSlow` is only a timeout).

Pure: the caller passes its monotonic clock's reading (a node that was itself paused starts its wait at the
first timeout it sees after it runs again, so its own pause never counts against the peer).
"""

from __future__ import annotations

from dataclasses import dataclass

GRACE = 20.0  # seconds of unanswered posts before the peer counts as gone (a node-death test's peer refuses at once)
MAX_BACKLOG = 256  # sealed messages one link's lane may hold for a slow peer (a pass adds a few; 4 posts' worth)
MAX_BACKLOG_BYTES = 16 * 1024 * 1024  # and their size (a handshake lane's commit and Welcome may be ~1 MiB sealed)


@dataclass
class Stall:
    """A link's lane waiting on its peer: since when its posts go unanswered (None: they are answered)."""

    grace: float = GRACE
    max_backlog: int = MAX_BACKLOG
    max_bytes: int = MAX_BACKLOG_BYTES
    since: float | None = None

    def waits(self, now: float, backlog: int, size: int = 0) -> bool:
        """A post timed out at `now` with `backlog` messages (`size` bytes) to retry: True while the link may wait
        on (retry them), False when the peer counts as gone (the caller closes the link)."""
        if self.since is None:
            self.since = now
        return now - self.since < self.grace and backlog <= self.max_backlog and size <= self.max_bytes

    def answered(self) -> None:
        self.since = None
