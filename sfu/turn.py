"""TURN REST credentials for the node's own region (coturn `use-auth-secret`, draft-uberti-behave-turn-rest).

A participant whose UDP is blocked reaches the node through its region's TURN (UDP, TCP, or TLS on 443). The
node mints the credential in its `joined` snapshot: username `<expiry unix time>:<participant id>`, password
base64(HMAC-SHA1(region secret, username)) — what coturn recomputes with its `static-auth-secret`. Only the
region's nodes hold the region's secret, so a credential minted in region A is refused by region B's TURN, and
coturn refuses it once `expiry` has passed. Pure: the clock is a parameter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import TypedDict
from urllib.parse import urlsplit

# RFC 7065 schemes; `stun:` needs no credential but may sit beside them.
SCHEMES = ("turn", "turns", "stun", "stuns")
MIN_TTL = 60
MAX_TTL = 7 * 24 * 3600


class IceServer(TypedDict):
    """One entry of RTCConfiguration.iceServers, as the browser takes it."""

    urls: list[str]
    username: str
    credential: str


@dataclass(frozen=True)
class TurnConfig:
    """The region's TURN: CASTELLAN_TURN_URLS (comma-separated), CASTELLAN_TURN_SECRET, CASTELLAN_TURN_TTL."""

    urls: tuple[str, ...]
    secret: str
    ttl: int = 86400  # seconds; coturn re-checks the credential at each allocation refresh (see docs/deploy.md)

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("TURN: no URLs")
        for url in self.urls:
            check_url(url)
        if len(self.secret) < 16:
            raise ValueError("TURN: the shared secret must be at least 16 characters (coturn static-auth-secret)")
        if not MIN_TTL <= self.ttl <= MAX_TTL:
            raise ValueError(f"TURN: ttl must be {MIN_TTL}..{MAX_TTL} seconds, not {self.ttl}")


def check_url(url: str) -> None:
    """ValueError unless `url` is a turn:/turns:/stun: URI with a host (RFC 7064/7065)."""
    scheme, _, rest = url.partition(":")
    if scheme not in SCHEMES or not rest or rest.startswith("//"):
        raise ValueError(f"TURN: {url!r} is not a turn:, turns: or stun: URI (e.g. turns:turn.example.org:443?transport=tcp)")
    host = urlsplit("//" + rest.split("?", 1)[0]).hostname
    if not host:
        raise ValueError(f"TURN: {url!r} names no host")


def parse_urls(text: str) -> tuple[str, ...]:
    """`turn:a:3478?transport=udp, turns:a:443?transport=tcp` -> the URLs (empty entries ignored)."""
    return tuple(u.strip() for u in text.split(",") if u.strip())


def from_settings(urls: str | None, secret: str | None, ttl: int) -> TurnConfig | None:
    """The node's TURN from its settings; None when neither URLs nor secret is set. One without the other is a
    configuration error (a node must not silently hand out no TURN, or credentials no TURN checks)."""
    url_list = parse_urls(urls or "")
    if not url_list and not secret:
        return None
    if not url_list:
        raise ValueError("TURN: CASTELLAN_TURN_SECRET is set but CASTELLAN_TURN_URLS is not")
    if not secret:
        raise ValueError("TURN: CASTELLAN_TURN_URLS is set but CASTELLAN_TURN_SECRET is not")
    return TurnConfig(urls=url_list, secret=secret, ttl=ttl)


def credential(secret: str, username: str) -> str:
    """coturn's REST password: base64(HMAC-SHA1(secret, username))."""
    return base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()


def ice_server(config: TurnConfig, participant: str, now: float) -> IceServer:
    """The iceServers entry for one participant, valid until now + ttl."""
    # ':' separates the expiry in coturn's username; a participant id carrying one would still verify, but keep
    # the username one timestamp and one opaque id
    username = f"{int(now) + config.ttl}:{participant.replace(':', '_')}"
    return {"urls": list(config.urls), "username": username, "credential": credential(config.secret, username)}
