"""The benchmark's load generator; runs in its own process (`python -m ops.bench_load SPEC`).

Why so low level: the simulator, the gateway and this generator share two cores. One
asyncio Protocol per keep-alive connection parses the HTTP/1.1 response itself (status
line, Content-Length or chunked framing) in `data_received` and counts answer tokens with
`bytes.count` on the raw body, carrying a short tail across reads so a marker split by a
read or chunk boundary is still counted once. No frame is JSON-parsed, no coroutine
resumes per frame. The result (raw samples) is written as JSON to the file `spec["out"]` names.
"""
from __future__ import annotations

import asyncio
import base64
import sys
from pathlib import Path
import time
from collections import Counter
from types import SimpleNamespace
from typing import Any

import orjson

GATEWAY_PATH = "/v1/chat/completions"
SIM_PATH = "/rest/app-chat/conversations/new"
MODEL = "grok-4.20-fast"
STATSIG = base64.b64encode(b"x1:TypeError: Cannot read properties of undefined (reading 'bench')").decode()

#: Markers counted in the body. Simulator side: one answer frame per token. Gateway side: the
#: gateway may join tokens that arrived together into one chunk, so it counts the answer's
#: tokens themselves: every bench token (`w<i> `) ends in a space, and orjson writes no other
#: spaces, so tokens = spaces - `data: ` prefixes - `: ping` comments. Also the end of an SSE
#: stream and error payloads.
SPACE, DATA, PING = b" ", b"data: ", b": ping"
FINAL, DONE, ERROR = b'"messageTag":"final"', b"data: [DONE]", b'"error"'


def prompt_for(tokens: int, delay_ms: int) -> str:
    return f"bench [[sim tokens={tokens} delay_ms={delay_ms} think=0]]"


def gateway_request(host: str, port: int, prompt: str, stream: bool, api_key: str | None = None) -> bytes:
    body = orjson.dumps({"model": MODEL, "stream": stream, "messages": [{"role": "user", "content": prompt}]})
    auth = f"Authorization: Bearer {api_key}\r\n" if api_key else ""
    return (f"POST {GATEWAY_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n{auth}"
            f"Accept: {'text/event-stream' if stream else 'application/json'}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def simulator_request(host: str, port: int, prompt: str, token: str) -> bytes:
    """The grok.com request the gateway sends for `prompt` (same body builder)."""
    from addons.upstream.chat_payload import build_chat_payload

    cfg: Any = SimpleNamespace(memory=False, temporary=True, custom_instruction="")
    body = orjson.dumps(build_chat_payload(cfg, f"[user]: {prompt}", "fast"))
    return (f"POST {SIM_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Accept: */*\r\nOrigin: https://grok.com\r\nReferer: https://grok.com/\r\n"
            f"Cookie: sso={token}; sso-rw={token}\r\nx-statsig-id: {STATSIG}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


class Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, side: str, stream: bool) -> None:
        # the floor (bench_floor.py) speaks the gateway's API: every side but the simulator does
        self.side, self.stream, self.gateway = side, stream, side != "simulator"
        self.markers = (SPACE, DATA, PING, DONE, ERROR) if self.gateway else (FINAL, ERROR)
        self.keep = max(len(m) for m in self.markers) - 1
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.future: asyncio.Future[dict[str, Any]] | None = None
        self.idle = False  # chunked body, at a chunk boundary: data_received may take the fast path

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.future is not None and not self.future.done():
            self.future.set_exception(ConnectionResetError("connection closed mid-response"))

    def send(self, request: bytes) -> asyncio.Future[dict[str, Any]]:
        assert self.transport is not None
        self.future = asyncio.get_running_loop().create_future()
        self.head = b""
        self.status = 0
        self.t0 = time.perf_counter()
        self.t_first = self.t_token = 0.0
        self.counts = [0] * len(self.markers)
        self.tail = b""
        self.length = -1  # Content-Length left, or -1 when chunked
        self.body = bytearray()
        self.pend = b""
        self.need = 0
        self.after_data = self.trailer = self.idle = False
        self.transport.write(request)
        return self.future

    # ---- parsing -------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self.idle:  # fast path: between chunks, and this read is exactly one whole chunk
            nl = data.find(b"\r\n")
            try:
                end = nl + 2 + int(data[:nl], 16)
            except ValueError:
                end = -1
            if nl > 0 and end > nl + 2 and len(data) == end + 2:
                self._count(data[nl + 2:end])
                return
            self._chunked(data)
            return
        if self.future is None or self.future.done():
            return
        if not self.t_first:
            self.t_first = time.perf_counter()
        if not self.status:
            head = self.head + data
            end = head.find(b"\r\n\r\n")
            if end < 0:
                self.head = head
                return
            self._headers(head[:end])
            data = head[end + 4:]
        if self.length >= 0:
            self.body += data
            if len(self.body) >= self.length:
                self._finish()
        else:
            self._chunked(data)

    def _headers(self, raw: bytes) -> None:
        lines = raw.split(b"\r\n")
        self.status = int(lines[0].split(b" ", 2)[1])
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                self.length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            self.length = -1
        elif self.length < 0:
            self.length = 0

    def _chunked(self, data: bytes) -> None:
        """De-chunk what arrived; the payload bytes are counted once per read, joined.

        The common case (a whole chunk in the buffer) costs one find and one slice."""
        buf = self.pend + data if self.pend else data
        pos, n = 0, len(buf)
        pieces: list[bytes] = []
        finished = False
        while pos < n:
            if self.need:  # the rest of a chunk that arrived in parts
                end = min(n, pos + self.need)
                pieces.append(buf[pos:end])
                self.need -= end - pos
                pos = end
                continue
            if self.after_data:  # the CRLF closing a chunk's data
                if n - pos < 2:
                    break
                pos += 2
                self.after_data = False
                continue
            nl = buf.find(b"\r\n", pos)
            if nl < 0:
                break
            if self.trailer:  # after the last chunk: trailer lines up to an empty one
                if nl == pos:
                    finished = True
                    break
                pos = nl + 2
                continue
            try:
                size = int(buf[pos:nl], 16)
            except ValueError:  # chunk extensions
                size = int(buf[pos:nl].split(b";", 1)[0], 16)
            pos = nl + 2
            if not size:
                self.trailer = True
                continue
            end = pos + size
            if end + 2 <= n:
                pieces.append(buf[pos:end])
                pos = end + 2
            else:
                self.need, self.after_data = size, True
        self.pend = b"" if finished else buf[pos:]
        self.idle = not (finished or self.pend or self.need or self.after_data or self.trailer)
        if pieces:
            self._count(pieces[0] if len(pieces) == 1 else b"".join(pieces))
        if finished:
            self._finish()

    def _count(self, piece: bytes) -> None:
        """Count markers in tail+piece, minus those wholly inside the tail (seen before).

        No marker holds a newline, so after a read ending in one (every whole NDJSON line
        or SSE event) no tail is kept and the subtraction is skipped."""
        tail = self.tail
        counts = self.counts
        i = 0
        if tail:
            window = tail + piece
            for marker in self.markers:
                counts[i] += window.count(marker) - tail.count(marker)
                i += 1
        else:
            window = piece
            for marker in self.markers:
                counts[i] += window.count(marker)
                i += 1
        self.tail = b"" if window[-1:] == b"\n" else window[-self.keep:]
        if not self.t_token and (counts[0] - counts[1] - counts[2] if self.gateway else counts[0]) > 0:
            self.t_token = time.perf_counter()

    def _finish(self) -> None:
        t_end = time.perf_counter()
        self.idle = False
        if self.future is None or self.future.done():  # timed out meanwhile
            return
        tokens, errors, done = self._result()
        if tokens and not self.t_token:
            self.t_token = t_end
        self.future.set_result({
            "status": self.status, "tokens": tokens, "errors": errors, "done": done,
            "ttfb": self.t_first - self.t0, "ttft": (self.t_token - self.t0) if self.t_token else None,
        })

    def _result(self) -> tuple[int, int, bool]:
        c = self.counts
        if self.side == "simulator":
            return c[0], c[1], True
        if self.stream:
            return c[0] - c[1] - c[2], c[4], c[3] > 0
        if self.status != 200:
            return 0, 1, False
        try:
            content = orjson.loads(bytes(self.body))["choices"][0]["message"]["content"] or ""
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            return 0, 1, False
        self.t_token = time.perf_counter()
        return len(content.split()), 0, True


# ---- driving -------------------------------------------------------------------------------
async def _run(spec: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    host, port, side, stream = spec["host"], spec["port"], spec["side"], spec["stream"]
    n, expect, timeout = spec["concurrency"], spec["tokens"], spec["timeout"]
    ramp = spec.get("ramp", 0.0)  # spread the clients' first requests over this many seconds
    prompt = prompt_for(expect, spec["delay_ms"])
    if side != "simulator":
        # each client uses one of the API keys in turn (none: open mode)
        requests = [gateway_request(host, port, prompt, stream, key)
                    for key in spec.get("api_keys") or [None]]
    else:
        requests = [simulator_request(host, port, prompt, t) for t in spec["sso_tokens"]]
    samples: dict[str, list[float]] = {"ttfb": [], "ttft": []}
    totals = Counter[str]()
    reasons = Counter[str]()

    async def connect() -> Conn:
        _, proto = await loop.create_connection(lambda: Conn(side, stream), host, port)
        return proto

    sem = asyncio.Semaphore(200)  # at most this many handshakes in flight: stay under the backlogs

    async def preconnect() -> Conn:
        async with sem:
            return await asyncio.wait_for(connect(), timeout)

    conns = list(await asyncio.gather(*(preconnect() for _ in range(n))))
    start, cpu0 = time.perf_counter(), time.process_time()
    deadline = start + spec["duration"] if spec.get("duration") else None

    async def client(i: int) -> None:
        conn, request = conns[i], requests[i % len(requests)]
        rounds = 0
        if ramp:
            await asyncio.sleep(ramp * i / n)
        while (deadline is None and rounds < spec["rounds"]) or (deadline and time.perf_counter() < deadline):
            rounds += 1
            try:
                if conn.closed:
                    conn = await asyncio.wait_for(connect(), timeout)
                r = await asyncio.wait_for(conn.send(request), timeout)
            except (OSError, asyncio.TimeoutError) as exc:
                reasons[type(exc).__name__] += 1
                totals["errors"] += 1
                if conn.transport is not None:
                    conn.transport.abort()
                conn.closed = True
                continue
            reason = ("status %d" % r["status"] if r["status"] != 200 else "error event" if r["errors"]
                      else "no [DONE]" if not r["done"] else "short answer" if r["tokens"] < expect else "")
            totals["tokens"] += r["tokens"]
            if reason:
                reasons[reason] += 1
                totals["errors"] += 1
                continue
            totals["ok"] += 1
            samples["ttfb"].append(r["ttfb"])
            if r["ttft"] is not None:
                samples["ttft"].append(r["ttft"])
        if conn.transport is not None:
            conn.transport.close()

    await asyncio.gather(*(client(i) for i in range(n)))
    elapsed = time.perf_counter() - start
    return {"side": side, "elapsed": elapsed, "ok": totals["ok"], "errors": totals["errors"],
            "tokens": totals["tokens"], "reasons": dict(reasons), "loadgen_cpu": time.process_time() - cpu0, **samples}


def run_load(spec: dict[str, Any]) -> dict[str, Any]:
    try:
        import uvloop  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - Windows
        return asyncio.run(_run(spec))
    return uvloop.run(_run(spec))


if __name__ == "__main__":
    # the raw samples go to the file the parent names: a pipe read in slices while the
    # parent samples the gateway once cut a large result short
    spec = orjson.loads(sys.argv[1])
    Path(spec["out"]).write_bytes(orjson.dumps(run_load(spec)))
