import orjson
from sse_starlette.event import ServerSentEvent

from quart_app import sse


def test_fast_data_frame_matches_sse_starlette_encoding():
    obj = {"text": "line1\nline2 \u00e9 \U0001F600", "n": 1, "none": None}
    expected = ServerSentEvent(data=orjson.dumps(obj).decode(), sep="\n").encode()
    assert sse.data(obj) == expected


def test_done_ping_and_named_event():
    assert sse.DONE == b"data: [DONE]\n\n"
    assert sse.PING == b": ping\n\n"
    assert sse.event("error", {"a": 1}) == b'event: error\ndata: {"a":1}\n\n'
