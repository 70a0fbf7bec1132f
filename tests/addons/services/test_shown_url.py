"""A URL shown in an error message carries no credentials."""
from __future__ import annotations

import pytest

from addons.services.fetch import shown_url


@pytest.mark.parametrize("url,shown", [
    ("https://user:pa55@example.org/a.png?sig=abc#frag", "https://example.org/a.png"),
    ("http://token@h:8080/p", "http://h:8080/p"),
    ("HTTPS://a:b@c@evil.example/x", "HTTPS://evil.example/x"),
    ("https://example.org/x.png", "https://example.org/x.png"),
    ("https://example.org/" + "x" * 500, "https://example.org/" + "x" * 140),
])
def test_credentials_query_and_fragment_are_dropped(url, shown):
    assert shown_url(url) == shown
