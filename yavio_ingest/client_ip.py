"""The client's address: the socket peer, or behind a trusted proxy its rightmost hop."""

from __future__ import annotations

import ipaddress

from aiohttp import web

Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def parse_networks(spec: str) -> Networks:
    """`10.0.0.0/8, 127.0.0.1` -> networks; an empty spec trusts no proxy."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False)
                 for part in spec.split(",") if part.strip())


def client_ip(request: web.Request, trusted_proxies: Networks) -> str:
    peer = request.remote or ""
    if not trusted_proxies or not peer:
        return peer
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return peer
    if not any(address in network for network in trusted_proxies):
        return peer
    # The rightmost hop is the one our trusted proxy added; anything left of it is client-supplied.
    hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",")]
    return hops[-1] if hops and hops[-1] else peer
