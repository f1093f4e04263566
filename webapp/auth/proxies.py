"""Which peers are our own proxies, and the client's address as they report it.

A header such as `X-Forwarded-Email` or `X-Forwarded-For` is only as trustworthy as whoever set
it: anyone can send one. They are believed only when the TCP peer (`REMOTE_ADDR`) is inside
`TRUSTED_PROXIES`, which is empty unless configured.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from flask import current_app, request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(raw: str) -> tuple[Network, ...]:
    """Read a comma- or space-separated list of addresses and CIDR ranges.

    Raises:
        ValueError: naming the first entry that is neither.
    """
    networks = []
    for item in raw.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR range, e.g. 10.0.0.0/8") from None
    return tuple(networks)


def is_within(address: str | None, networks: Sequence[Network]) -> bool:
    """Whether `address` parses and lies in one of `networks`."""
    if not address or not _is_address(address):
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in network for network in networks)


def from_trusted_proxy() -> bool:
    """Whether this request's TCP peer is one of the configured proxies."""
    return is_within(request.remote_addr, current_app.config["TRUSTED_PROXIES"])


def client_address() -> str:
    """The client's address: the peer's, or behind trusted proxies the nearest untrusted hop.

    `X-Forwarded-For` is read from the right, because each proxy appends the address it saw; the
    left-hand entries are whatever the client chose to send.
    """
    peer = request.remote_addr or "unknown"
    networks = current_app.config["TRUSTED_PROXIES"]
    if not is_within(peer, networks):
        return peer
    hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_address(hop):
            break
        if not is_within(hop, networks):
            return hop
    return peer


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
