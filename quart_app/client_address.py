"""Who is calling: the client's IP address, for decisions made per caller (the admin throttle).

The direct peer of the connection is the client unless the operator lists it in
`server.trusted_proxies`; only then is `X-Forwarded-For` read, from the right (the hop the
trusted proxy saw) leftwards while the hop is itself a trusted proxy. Anything a client writes
into the header left of that is ignored, so an untrusted caller cannot pick its own address.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from state.options import Loader

__all__ = ["client_address", "load", "parse_networks"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Said when the server gives no peer (a Unix socket): all such callers share one bucket.
UNKNOWN = "unknown"


def _check(entries: tuple[str, ...]) -> None:
    parse_networks(entries)


def load(loader: Loader) -> None:
    loader.add_option("server.trusted_proxies", list[str], [],
                      "Addresses or CIDR ranges of your reverse proxies (e.g. `127.0.0.1`, "
                      "`10.0.0.0/8`). X-Forwarded-For names the client only on a connection "
                      "from one of them; empty = the connection's peer is the client.",
                      check=_check)


@lru_cache(maxsize=8)
def parse_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """The networks of `server.trusted_proxies`; ValueError names an entry that is none."""
    out = []
    for entry in entries:
        try:
            out.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR range "
                             "(e.g. 10.0.0.0/8)") from None
    return tuple(out)


def _ip(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(ip: Address, networks: tuple[Network, ...]) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
    return any(ip in net for net in networks)


def client_address(peer: str | None, forwarded_for: Iterable[str],
                   trusted: tuple[Network, ...]) -> str:
    """The client's address: `peer`, or the rightmost untrusted hop of `forwarded_for` (every
    `X-Forwarded-For` value in order) when `peer` is a trusted proxy."""
    if not peer:
        return UNKNOWN
    current = _ip(peer)
    if current is None or not trusted or not _trusted(current, trusted):
        return peer
    hops = [h for value in forwarded_for for h in value.split(",") if h.strip()]
    for hop in reversed(hops):
        ip = _ip(hop)
        if ip is None:
            break  # garbage left of a trusted hop: keep the last address we can vouch for
        current = ip
        if not _trusted(ip, trusted):
            break
    return str(current)
