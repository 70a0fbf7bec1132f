"""The request id rules, the key label and the logging filter, without a server."""
from __future__ import annotations

import hashlib
import logging

import pytest

from quart_app.request_log import RequestIdFilter, RequestLog, accept_id, current, key_label


@pytest.mark.parametrize("raw", [b"abc", b"a" * 128, b"trace:1/2=3", b"~!"])
def test_a_sane_client_id_is_kept(raw: bytes) -> None:
    assert accept_id(raw) == raw.decode()


@pytest.mark.parametrize("raw", [None, b"", b"a b", b"a" * 129, b"tab\there", b"nl\nx",
                                 b"del\x7f", "caf\u00e9".encode()])
def test_an_insane_or_missing_id_is_replaced(raw: bytes | None) -> None:
    got = accept_id(raw)
    assert len(got) == 16 and int(got, 16) >= 0 and got != raw


def test_key_label_is_a_fingerprint_and_bearer_wins() -> None:
    fp = "fp:" + hashlib.sha256(b"k1").hexdigest()[:8]
    assert key_label([(b"authorization", b"Bearer k1")]) == fp
    assert key_label([(b"x-api-key", b" k1 ")]) == fp
    assert key_label([(b"x-api-key", b"k2"), (b"authorization", b"bearer k1")]) == fp
    assert key_label([(b"authorization", b"Basic abc")]) == "-"
    assert key_label([]) == "-"


async def test_filter_and_current_follow_the_request() -> None:
    seen: list[tuple[str | None, str]] = []
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)

    async def app(scope, receive, send) -> None:
        RequestIdFilter().filter(record)
        seen.append((current().id, record.request_id))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/p", "raw_path": b"/p",
             "headers": [(b"x-request-id", b"rid-1")]}
    await RequestLog(app)(scope, None, send)
    assert seen == [("rid-1", "rid-1")]
    assert (b"x-request-id", b"rid-1") in sent[0]["headers"]
    assert current() is None
    RequestIdFilter().filter(record)
    assert record.request_id == "-"
