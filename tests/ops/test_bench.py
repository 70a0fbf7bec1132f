"""`grok2api bench` end to end on a tiny load, and the load generator's HTTP parser.

Never asserts timings: only that both sides ran, without errors, with every token counted.
"""
from __future__ import annotations

import asyncio
import random

import orjson
from click.testing import CliRunner

from ops.bench import bench, rss_figures
from ops.bench_floor import answer_token, sse_chunk
from ops.bench_load import Conn
from ops.bench_report import ratios, render

STREAMS, STREAM_TOKENS, NONSTREAM_TOKENS = 5, 20, 50


def test_bench_tiny_end_to_end() -> None:
    args = ["nonstream", "stream200", "stream200-burst", "--duration", "1", "--concurrency", "4",
            "--streams", str(STREAMS), "--stream-tokens", str(STREAM_TOKENS), "--rounds", "1",
            "--accounts", "4", "--floor", "--stack-floor", "--settle", "0.2", "--json"]
    result = CliRunner().invoke(bench, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    by_name = {r["scenario"]: r for r in report["results"]}
    assert set(by_name) == {"nonstream", "stream200", "stream200-burst"}
    for name, r in by_name.items():
        for side in ("gateway", "floor", "stack", "simulator"):
            s = r[side]
            assert s["errors"] == 0, (name, side, s["error_reasons"])
            assert s["requests_ok"] > 0
            per_request = NONSTREAM_TOKENS if name == "nonstream" else STREAM_TOKENS
            assert s["tokens"] == s["requests_ok"] * per_request, (name, side)
            assert s["ttft_p50_ms"] is not None
        for side in ("gateway", "floor", "stack"):  # the converters' own CPU and memory
            assert r[side]["cpu_s"] >= 0 and r[side]["peak_rss_mb"] >= r[side]["rss_before_mb"] > 0
        assert r["ratios"]["floor_req_per_s"] > 0 and r["ratios"]["stack_req_per_s"] > 0
        assert r["ratios"]["stack_floor_req_per_s"] > 0
    for name in ("stream200", "stream200-burst"):
        for side in ("gateway", "floor", "stack", "simulator"):
            assert by_name[name][side]["requests_ok"] == STREAMS
        assert by_name[name]["gateway"]["rss_per_stream_kib"] >= 0
    # only a burst reads the RSS again after --settle; a burst opens every stream at once
    assert by_name["stream200-burst"]["gateway"]["settle_s"] == 0.2
    assert "rss_settled_mb" not in by_name["stream200"]["gateway"]
    assert by_name["stream200-burst"]["params"]["ramp"] == 0
    assert {t["target"].split(":")[0] for t in report["targets"]} == {"stream200", "nonstream", "stream200-burst"}
    text = render(report["results"], report["setup"])
    assert "stream200: gateway/simulator tokens/s" in text
    assert "stream200-burst: gateway/floor req/s" in text
    assert "stream200-burst: gateway/stack req/s" in text and "nonstream: stack/floor req/s" in text


def test_rss_per_open_stream() -> None:
    figures = rss_figures(100 * 2**20, 200 * 2**20, 150 * 2**20, 1000)
    assert figures == {"rss_before_mb": 100.0, "peak_rss_mb": 200.0, "rss_end_mb": 150.0,
                       "rss_per_stream_kib": 102.4}
    assert "rss_per_stream_kib" not in rss_figures(1, 2, 2, 0)  # non-stream: no open streams


def test_ratios_to_the_floor() -> None:
    sim = {"tokens_per_s": 1000.0, "req_per_s": 10.0, "ttft_p50_ms": 20.0}
    gw = {"tokens_per_s": 900.0, "req_per_s": 9.0, "ttft_p50_ms": 50.0, "cpu_s": 4.0, "peak_rss_mb": 300.0,
          "rss_per_stream_kib": 60.0, "requests_ok": 90}
    floor = {"tokens_per_s": 1000.0, "req_per_s": 10.0, "ttft_p50_ms": 40.0, "cpu_s": 2.0, "peak_rss_mb": 100.0,
             "rss_per_stream_kib": 30.0, "requests_ok": 100}
    r = ratios({"gateway": gw, "floor": floor, "simulator": sim})
    assert r["floor_req_per_s"] == 0.9 and r["floor_tokens_per_s"] == 0.9
    assert r["floor_added_ttft_p50"] == 1.5  # (50 - 20) / (40 - 20): the time each adds
    assert r["floor_cpu_s"] == 2.0 and r["floor_rss_per_stream"] == 2.0
    assert r["floor_cpu_per_request"] == 2.222  # (4 / 90) / (2 / 100): fewer requests for more CPU
    assert "stack_req_per_s" not in r
    assert r["added_ttft_p50_ms"] == 30.0  # the simulator ratios stay
    # a floor no slower than the simulator alone (noise): no added-TTFT ratio, not a huge one
    quick = {**floor, "ttft_p50_ms": 19.0}
    assert ratios({"gateway": gw, "floor": quick, "simulator": sim})["floor_added_ttft_p50"] is None


def test_ratios_to_the_stack_floor() -> None:
    """With both floors, the gateway is given against each, and the stack floor against the
    aiohttp one: how much of the distance the gateway's libraries take before any feature."""
    sim = {"tokens_per_s": 1000.0, "req_per_s": 10.0, "ttft_p50_ms": 20.0}
    gw = {"tokens_per_s": 600.0, "req_per_s": 6.0, "ttft_p50_ms": 50.0, "cpu_s": 6.0, "requests_ok": 60}
    floor = {"tokens_per_s": 1000.0, "req_per_s": 10.0, "ttft_p50_ms": 40.0, "cpu_s": 4.0, "requests_ok": 100}
    stack = {"tokens_per_s": 800.0, "req_per_s": 8.0, "ttft_p50_ms": 30.0, "cpu_s": 4.0, "requests_ok": 80}
    r = ratios({"gateway": gw, "floor": floor, "stack": stack, "simulator": sim})
    assert r["floor_req_per_s"] == 0.6 and r["stack_req_per_s"] == 0.75
    assert r["stack_added_ttft_p50"] == 3.0  # (50 - 20) / (30 - 20)
    assert r["stack_cpu_per_request"] == 2.0  # (6 / 60) / (4 / 80)
    assert r["stack_floor_req_per_s"] == 0.8 and r["stack_floor_cpu_per_request"] == 1.25
    only_stack = ratios({"gateway": gw, "stack": stack, "simulator": sim})
    assert "floor_req_per_s" not in only_stack and "stack_floor_req_per_s" not in only_stack
    assert only_stack["stack_req_per_s"] == 0.75


def test_floor_sse_is_counted_like_the_gateways() -> None:
    lines = [b'{"result":{"response":{"token":"w%d ","isThinking":false,"messageTag":"final"}}}' % i
             for i in range(30)]
    lines.insert(3, b'{"result":{"response":{"token":"hm","isThinking":true,"messageTag":"header"}}}')
    tokens = [t for line in lines if (t := answer_token(line)) is not None]
    assert tokens == [f"w{i} " for i in range(30)]
    frames = [sse_chunk(t) for t in tokens] + [b"data: [DONE]\n\n"]
    r = _feed("floor", True, _chunked(frames), random.Random(3))
    assert (r["status"], r["tokens"], r["errors"], r["done"]) == (200, 30, 0, True)


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
