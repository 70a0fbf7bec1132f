"""The media scenarios of `grok2api bench`, on the same simulator + gateway stack as the chat
scenarios (`bench.Stack`); the clients run here, with aiohttp.

- `media-fanout`: one image generated through the chat-based path (its file is downloaded
  from the CDN by the gateway), then 50 clients fetch its link at once. Reports how many
  times the gateway downloaded it from upstream (the simulator's CDN log: the answer is 1)
  and fetches per second, against the same 50 fetches from the simulator's CDN.
- `media-range`: one 50 MiB video generated and cached, then 20 clients read it at once in
  4 MiB `Range` pieces (as players seek). Reports the gateway's RSS growth (files are
  streamed from disk: it must stay well under the file's size) and MiB/s, against the
  same reads from the simulator's CDN.
- `images`: images per second through `/v1/images/generations` (8 clients, 4 images each)
  against the same rounds sent to the simulator's imagine WebSocket directly.
"""
from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

import aiohttp
import orjson

MIB = 1 << 20
FANOUT_CLIENTS = 50
RANGE_CLIENTS, RANGE_PIECE, VIDEO_MIB = 20, 4 * MIB, 50
IMAGE_CLIENTS, IMAGES_PER_REQUEST, IMAGE_SECONDS = 8, 4, 10.0
TARGET_RSS_GROWTH_MIB = 20
MEDIA_SCENARIOS = ("media-fanout", "media-range", "images")
_LINK = re.compile(r"(https?://[^\s)\"']+/v1/files/(?:image|video)\?id=[A-Za-z0-9_-]+)")


class MediaBenchError(RuntimeError):
    pass


def _cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"sso={token}; sso-rw={token}"}


async def _chat(http: aiohttp.ClientSession, gw: str, model: str, prompt: str) -> str:
    body = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    async with http.post(f"{gw}/v1/chat/completions", json=body) as resp:
        data = await resp.json(content_type=None)
        if resp.status != 200:
            raise MediaBenchError(f"{model}: HTTP {resp.status}: {data}")
    content = data["choices"][0]["message"]["content"]
    found = _LINK.search(content)
    if found is None:
        raise MediaBenchError(f"{model}: no local link in the answer: {content[:200]}")
    return found.group(1)


async def _sim_requests(http: aiohttp.ClientSession, sim: str) -> list[tuple[str, str]]:
    """(path, account token) of every request the simulator recorded."""
    async with http.get(f"{sim}/__sim/requests", params={"limit": "100000"}) as resp:
        return [(r.get("path", ""), r.get("token") or "")
                for r in (await resp.json(content_type=None))["requests"]]


async def _owner_file(http: aiohttp.ClientSession, sim: str, suffix: str) -> tuple[str, str]:
    """The CDN path of the newest generated file ending in `suffix` that the gateway fetched,
    and the account that owns it (the simulator's log)."""
    found = [(p, t) for p, t in await _sim_requests(http, sim)
             if p.endswith(suffix) and "/generated/" in p]
    if not found:
        raise MediaBenchError(f"the gateway never fetched a generated {suffix} from the CDN")
    return found[-1]


async def _fetch_all(http: aiohttp.ClientSession, urls: list[str], headers: dict[str, str]
                     ) -> tuple[float, int]:
    """(seconds, bytes) of fetching every URL at once."""
    async def one(url: str) -> int:
        async with http.get(url, headers=headers) as resp:
            if resp.status not in (200, 206):
                raise MediaBenchError(f"GET {url}: HTTP {resp.status}")
            return len(await resp.read())

    t0 = time.perf_counter()
    sizes = await asyncio.gather(*(one(u) for u in urls))
    return time.perf_counter() - t0, sum(sizes)


async def fanout(gw: str, sim: str, auth: dict[str, str]) -> dict[str, Any]:
    async with aiohttp.ClientSession(headers=auth) as http:
        link = await _chat(http, gw, "grok-imagine-image-lite", f"fanout {uuid.uuid4()}")
        path, token = await _owner_file(http, sim, "/image.jpg")
        gw_s, size = await _fetch_all(http, [link] * FANOUT_CLIENTS, {})
        downloads = sum(1 for p, _ in await _sim_requests(http, sim) if p == path)
        sim_s, _ = await _fetch_all(http, [sim + path] * FANOUT_CLIENTS, _cookie(token))
    return {"scenario": "media-fanout", "clients": FANOUT_CLIENTS, "bytes": size,
            "upstream_downloads": downloads,
            "gateway_fetch_per_s": round(FANOUT_CLIENTS / gw_s, 1),
            "simulator_fetch_per_s": round(FANOUT_CLIENTS / sim_s, 1),
            "ratio": round(sim_s / gw_s, 3)}


async def _ranges(http: aiohttp.ClientSession, url: str, size: int, headers: dict[str, str]
                  ) -> float:
    async def reader() -> None:
        for start in range(0, size, RANGE_PIECE):
            end = min(size, start + RANGE_PIECE) - 1
            async with http.get(url, headers={**headers, "Range": f"bytes={start}-{end}"}) as resp:
                if resp.status != 206:
                    raise MediaBenchError(f"Range GET {url}: HTTP {resp.status}")
                async for _ in resp.content.iter_chunked(256 * 1024):
                    pass

    t0 = time.perf_counter()
    await asyncio.gather(*(reader() for _ in range(RANGE_CLIENTS)))
    return time.perf_counter() - t0


async def range_reads(gw: str, sim: str, gw_ps: Any, auth: dict[str, str]) -> dict[str, Any]:
    async with aiohttp.ClientSession(headers=auth) as http:
        link = await _chat(http, gw, "grok-imagine-video",
                           f"range {uuid.uuid4()} [[sim video_kb={VIDEO_MIB * 1024}]]")
        async with http.head(link) as resp:
            size = int(resp.headers["Content-Length"])
        path, token = await _owner_file(http, sim, "/generated_video.mp4")
        base = gw_ps.memory_info().rss
        peak = base
        done = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, gw_ps.memory_info().rss)
                await asyncio.sleep(0.02)

        sampler = asyncio.ensure_future(sample())
        try:
            gw_s = await _ranges(http, link, size, {})
        finally:
            done.set()
            await sampler
        sim_s = await _ranges(http, sim + path, size, _cookie(token))
    total = RANGE_CLIENTS * size / MIB
    return {"scenario": "media-range", "clients": RANGE_CLIENTS, "file_mib": round(size / MIB, 1),
            "rss_growth_mib": round((peak - base) / MIB, 1),
            "gateway_mib_per_s": round(total / gw_s, 1),
            "simulator_mib_per_s": round(total / sim_s, 1), "ratio": round(sim_s / gw_s, 3)}


def _imagine_frames(prompt: str, count: int) -> list[bytes]:
    now = int(time.time() * 1000)
    reset = {"type": "conversation.item.create", "timestamp": now,
             "item": {"type": "message", "content": [{"type": "reset"}]}}
    ask = {"type": "conversation.item.create", "timestamp": now, "item": {"type": "message", "content": [{
        "requestId": str(uuid.uuid4()), "text": prompt, "type": "input_text",
        "properties": {"section_count": 0, "is_kids_mode": False, "enable_nsfw": True,
                       "skip_upsampler": False, "enable_side_by_side": True, "is_initial": False,
                       "aspect_ratio": "1:1", "enable_pro": False, "num_generations": count}}]}}
    return [orjson.dumps(reset), orjson.dumps(ask)]


async def _imagine_round(http: aiohttp.ClientSession, sim: str, token: str, prompt: str) -> int:
    """One round at the simulator's imagine socket: the images it completed."""
    url = sim.replace("http", "ws", 1) + "/ws/imagine/listen"
    headers = {**_cookie(token), "Origin": "https://grok.com"}
    async with http.ws_connect(url, headers=headers, max_msg_size=0) as ws:
        for frame in _imagine_frames(prompt, IMAGES_PER_REQUEST):
            await ws.send_str(frame.decode())
        completed = 0
        async for msg in ws:
            data = orjson.loads(msg.data)
            if data.get("type") == "json" and data.get("current_status") == "completed":
                completed += 1
                if completed >= IMAGES_PER_REQUEST:
                    return completed
            elif data.get("type") == "error":
                raise MediaBenchError(f"imagine error: {data}")
    return completed


async def _loop(duration: float, work: Any) -> tuple[int, float]:
    """Runs `work(client)` in IMAGE_CLIENTS loops for `duration`: (images, seconds)."""
    deadline = time.perf_counter() + duration
    counts = [0] * IMAGE_CLIENTS

    async def client(i: int) -> None:
        while time.perf_counter() < deadline:
            counts[i] += await work(i)

    t0 = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(IMAGE_CLIENTS)))
    return sum(counts), time.perf_counter() - t0


async def images(gw: str, sim: str, tokens: list[str], auth: dict[str, str]) -> dict[str, Any]:
    async with aiohttp.ClientSession(headers=auth) as http:
        async def via_gateway(i: int) -> int:
            body = {"model": "grok-imagine-image", "prompt": f"bench {uuid.uuid4()}",
                    "n": IMAGES_PER_REQUEST, "response_format": "b64_json"}
            async with http.post(f"{gw}/v1/images/generations", json=body) as resp:
                data = await resp.json(content_type=None)
                if resp.status != 200:
                    raise MediaBenchError(f"images: HTTP {resp.status}: {data}")
            return len(data["data"])

        async def direct(i: int) -> int:
            return await _imagine_round(http, sim, tokens[i % len(tokens)], f"bench {uuid.uuid4()}")

        gw_n, gw_s = await _loop(IMAGE_SECONDS, via_gateway)
        sim_n, sim_s = await _loop(IMAGE_SECONDS, direct)
    gw_rate, sim_rate = gw_n / gw_s, sim_n / sim_s
    return {"scenario": "images", "clients": IMAGE_CLIENTS, "images_per_request": IMAGES_PER_REQUEST,
            "gateway_images_per_s": round(gw_rate, 1), "simulator_images_per_s": round(sim_rate, 1),
            "ratio": round(gw_rate / sim_rate, 3) if sim_rate else None}


def run_media(names: list[str], gw: str, sim: str, tokens: list[str], gw_ps: Any) -> list[dict[str, Any]]:
    auth: dict[str, str] = {}  # the gateway runs in open mode

    async def run() -> list[dict[str, Any]]:
        out = []
        for name in names:
            if name == "media-fanout":
                out.append(await fanout(gw, sim, auth))
            elif name == "media-range":
                out.append(await range_reads(gw, sim, gw_ps, auth))
            elif name == "images":
                out.append(await images(gw, sim, tokens, auth))
        return out

    return asyncio.run(run())


def render_media(results: list[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        if r["scenario"] == "media-fanout":
            lines.append(f"media-fanout: {r['clients']} clients fetched one new image: "
                         f"{r['upstream_downloads']} upstream download(s); "
                         f"{r['gateway_fetch_per_s']} fetches/s vs CDN alone "
                         f"{r['simulator_fetch_per_s']} (ratio {r['ratio']})")
            lines.append(f"  {'PASS' if r['upstream_downloads'] == 1 else 'MISS'}  exactly one "
                         f"upstream download")
        elif r["scenario"] == "media-range":
            lines.append(f"media-range: {r['clients']} Range clients of a {r['file_mib']} MiB "
                         f"video: gateway RSS +{r['rss_growth_mib']} MiB; "
                         f"{r['gateway_mib_per_s']} MiB/s vs CDN alone "
                         f"{r['simulator_mib_per_s']} (ratio {r['ratio']})")
            lines.append(f"  {'PASS' if r['rss_growth_mib'] < TARGET_RSS_GROWTH_MIB else 'MISS'}  "
                         f"RSS growth under {TARGET_RSS_GROWTH_MIB} MiB")
        elif r["scenario"] == "images":
            lines.append(f"images: {r['gateway_images_per_s']} images/s through "
                         f"/v1/images/generations vs imagine socket alone "
                         f"{r['simulator_images_per_s']} (ratio {r['ratio']})")
    return "\n".join(lines)
