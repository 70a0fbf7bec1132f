"""The caller's address: the peer, unless a proxy the operator trusts says who it forwards."""
from __future__ import annotations

import pytest

from quart_app.client_address import UNKNOWN, client_address, parse_networks

TRUSTED = parse_networks(("127.0.0.1", "10.0.0.0/8", "fd00::/8"))


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client_address("203.0.113.9", ["198.51.100.1"], ()) == "203.0.113.9"
    # the peer is not a trusted proxy: whatever it claims is ignored
    assert client_address("203.0.113.9", ["198.51.100.1"], TRUSTED) == "203.0.113.9"


def test_a_trusted_proxy_names_the_client() -> None:
    assert client_address("127.0.0.1", ["198.51.100.1"], TRUSTED) == "198.51.100.1"
    assert client_address("::ffff:127.0.0.1", ["198.51.100.1"], TRUSTED) == "198.51.100.1"
    # the client wrote its own X-Forwarded-For: only the hop the proxy saw counts
    assert client_address("127.0.0.1", ["6.6.6.6, 198.51.100.1"], TRUSTED) == "198.51.100.1"
    # a chain of trusted proxies is walked leftwards to the first untrusted hop
    assert client_address("127.0.0.1", ["6.6.6.6, 198.51.100.1, 10.1.2.3", "10.9.9.9"],
                          TRUSTED) == "198.51.100.1"
    assert client_address("fd00::1", ["2001:db8::7"], TRUSTED) == "2001:db8::7"


def test_garbage_and_missing_values() -> None:
    assert client_address("127.0.0.1", [], TRUSTED) == "127.0.0.1"
    assert client_address("127.0.0.1", ["not-an-ip"], TRUSTED) == "127.0.0.1"
    assert client_address("127.0.0.1", ["junk, 10.0.0.5"], TRUSTED) == "10.0.0.5"
    assert client_address(None, ["198.51.100.1"], TRUSTED) == UNKNOWN


def test_bad_entries_are_named() -> None:
    with pytest.raises(ValueError, match="'proxy.local' is not an IP address or CIDR range"):
        parse_networks(("10.0.0.0/8", "proxy.local"))
