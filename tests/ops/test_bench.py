"""`grok2api bench` end to end on a tiny load, and the load generator's HTTP parser.

Never asserts timings: only that both sides ran, without errors, with every token counted.
"""
from __future__ import annotations

import asyncio
import random

import orjson
from click.testing import CliRunner

from ops.bench import bench
from ops.bench_load import Conn
from ops.bench_report import render

STREAMS, STREAM_TOKENS, NONSTREAM_TOKENS = 5, 20, 50


def test_bench_tiny_end_to_end() -> None:
    args = ["nonstream", "stream200", "--duration", "1", "--concurrency", "4", "--streams", str(STREAMS),
            "--stream-tokens", str(STREAM_TOKENS), "--rounds", "1", "--accounts", "4", "--json"]
    result = CliRunner().invoke(bench, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    by_name = {r["scenario"]: r for r in report["results"]}
    assert set(by_name) == {"nonstream", "stream200"}
    for name, r in by_name.items():
        for side in ("gateway", "simulator"):
            s = r[side]
            assert s["errors"] == 0, (name, side, s["error_reasons"])
            assert s["requests_ok"] > 0
            per_request = NONSTREAM_TOKENS if name == "nonstream" else STREAM_TOKENS
            assert s["tokens"] == s["requests_ok"] * per_request, (name, side)
            assert s["ttft_p50_ms"] is not None
        assert r["gateway"]["cpu_s"] >= 0 and r["gateway"]["peak_rss_mb"] > 0
    assert by_name["stream200"]["gateway"]["requests_ok"] == STREAMS
    assert by_name["stream200"]["simulator"]["requests_ok"] == STREAMS
    assert {t["target"].split(":")[0] for t in report["targets"]} == {"stream200", "nonstream"}
    text = render(report["results"], report["setup"])
    assert "stream200: gateway/simulator tokens/s" in text


class _Sink:
    def write(self, data: bytes) -> None:
        pass


def _chunked(frames: list[bytes]) -> bytes:
    body = b"".join(b"%x\r\n%b\r\n" % (len(f), f) for f in frames)
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body + b"0\r\n\r\n"


def _feed(side: str, stream: bool, raw: bytes, rng: random.Random) -> dict:
    async def run() -> dict:
        conn = Conn(side, stream)
        conn.transport = _Sink()  # type: ignore[assignment]
        future = conn.send(b"")
        pos = 0
        while pos < len(raw):  # random read sizes, down to single bytes
            step = rng.choice((1, 2, 7, 31, 200, 4096))
            conn.data_received(raw[pos:pos + step])
            pos += step
        return await asyncio.wait_for(future, 1)

    return asyncio.run(run())


def test_parser_counts_markers_across_any_read_boundary() -> None:
    rng = random.Random(7)
    sse = [b'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n']
    sse += [b'data: {"choices":[{"delta":{"content":"w%d "}}]}\n\n' % i for i in range(40)]
    sse += [b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\n', b"data: [DONE]\n\n"]
    # a frame split over two HTTP chunks mid-marker
    sse[5:6] = [sse[5][:30], sse[5][30:]]
    ndjson = [b'{"result":{"response":{"token":"w%d ","messageTag":"final"}}}\n' % i for i in range(40)]
    for _ in range(20):
        r = _feed("gateway", True, _chunked(sse), rng)
        assert (r["status"], r["tokens"], r["errors"], r["done"]) == (200, 40, 0, True)
        r = _feed("simulator", True, _chunked(ndjson), rng)
        assert (r["status"], r["tokens"], r["errors"]) == (200, 40, 0)
    body = orjson.dumps({"choices": [{"message": {"content": "w0 w1 w2 "}}]})
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)
    assert _feed("gateway", False, raw, rng)["tokens"] == 3
    error = b'{"error":{"message":"nope"}}'
    raw = b"HTTP/1.1 429 Too Many\r\nContent-Length: %d\r\n\r\n%b" % (len(error), error)
    assert _feed("gateway", False, raw, rng)["status"] == 429
