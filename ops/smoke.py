"""`grok2api smoke`: a short end-to-end check of any running gateway, for an operator after a
deploy. Health, the model list, one chat answer without and one with streaming, and one image
when an image model is listed (its link fetched too, as a browser would). A line per check;
exit status 1 when one failed. The API key is sent, never printed."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import click

__all__ = ["smoke"]

PROMPT = "Reply with the single word OK."
#: Chat models tried first when listed (fast and cheap); else the first chat model listed.
PREFERRED = ("grok-4.20-fast", "grok-4.1-fast", "grok-4")
NOT_CHAT = ("imagine", "video")


class CheckFailed(Exception):
    pass


@dataclass
class Gateway:
    base_url: str
    api_key: str | None
    timeout: float

    def request(self, method: str, path: str, body: Any = None, *,
                auth: bool = True) -> urllib.request.Request:
        url = path if path.startswith("http") else self.base_url + path
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if auth and self.api_key:
            req.add_header("Authorization", f"Bearer {self.api_key}")
        return req

    def open(self, req: urllib.request.Request):
        try:
            return urllib.request.urlopen(req, timeout=self.timeout)  # noqa: S310 (operator's URL)
        except urllib.error.HTTPError as err:
            raise CheckFailed(f"HTTP {err.code}: {_error_text(err.read())}") from None
        except (urllib.error.URLError, OSError) as err:
            raise CheckFailed(f"no answer: {getattr(err, 'reason', err)}") from None

    def json(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Any:
        with self.open(self.request(method, path, body, auth=auth)) as answer:
            return json.loads(answer.read())

    def events(self, path: str, body: Any) -> Iterator[dict[str, Any]]:
        with self.open(self.request("POST", path, body)) as answer:
            for raw in answer:
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                yield json.loads(data)


def _error_text(raw: bytes) -> str:
    try:
        err = json.loads(raw).get("error")
        return err.get("message", str(err)) if isinstance(err, dict) else str(err)
    except (ValueError, AttributeError):
        return raw[:200].decode("utf-8", "replace")


def _chat_model(models: list[str], wanted: str | None) -> str:
    if wanted:
        if wanted not in models:
            raise CheckFailed(f"{wanted} is not listed")
        return wanted
    chat = [m for m in models if not any(word in m for word in NOT_CHAT)]
    if not chat:
        raise CheckFailed("no chat model is listed (no usable account?)")
    return next((m for m in PREFERRED if m in chat), chat[0])


def _run(checks: list[tuple[str, Callable[[], str]]]) -> int:
    failed = 0
    for name, check in checks:
        start = time.perf_counter()
        try:
            detail = check()
            status = "ok"
        except CheckFailed as exc:
            detail, status = str(exc), "FAIL"
            failed += 1
        except Exception as exc:  # noqa: BLE001 - an unexpected answer is a failed check
            detail, status = f"{type(exc).__name__}: {exc}", "FAIL"
            failed += 1
        ms = (time.perf_counter() - start) * 1000
        click.echo(f"{status:<5} {name:<12} {ms:7.0f} ms  {detail}")
    return failed


@click.command("smoke")
@click.option("--base-url", required=True, help="The gateway, e.g. https://api.example.com")
@click.option("--api-key", envvar="GROK2API_API_KEY", default=None,
              help="A client key, if the gateway needs one ($GROK2API_API_KEY).")
@click.option("--model", default=None, help="Chat model to try (default: a fast one listed).")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds per call.")
def smoke(base_url: str, api_key: str | None, model: str | None, timeout: float) -> None:
    """Check a running gateway end to end: health, models, chat, streaming, one image."""
    gw = Gateway(base_url.rstrip("/").removesuffix("/v1"), api_key, timeout)
    listed: list[str] = []

    def health() -> str:
        body = gw.json("GET", "/health", auth=False)
        return f"status {body.get('status', '?')}"

    def models() -> str:
        listed.extend(m["id"] for m in gw.json("GET", "/v1/models")["data"])
        return f"{len(listed)} listed"

    def chat() -> str:
        name = _chat_model(listed, model)
        body = gw.json("POST", "/v1/chat/completions", {
            "model": name, "messages": [{"role": "user", "content": PROMPT}]})
        text = body["choices"][0]["message"].get("content") or ""
        if not text.strip():
            raise CheckFailed(f"{name}: empty answer")
        return f"{name}: {text.strip()[:40]!r}"

    def stream() -> str:
        name = _chat_model(listed, model)
        chunks, text = 0, ""
        for event in gw.events("/v1/chat/completions", {
                "model": name, "stream": True,
                "messages": [{"role": "user", "content": PROMPT}]}):
            for choice in event.get("choices", []):
                text += (choice.get("delta") or {}).get("content") or ""
            chunks += 1
        if not text.strip():
            raise CheckFailed(f"{name}: no content in {chunks} chunks")
        return f"{name}: {chunks} chunks"

    def image() -> str:
        name = next((m for m in listed if m.startswith("grok-imagine-image")
                     and not m.endswith("edit")), None)
        if name is None:
            return "skipped: no image model listed"
        body = gw.json("POST", "/v1/images/generations",
                       {"model": name, "prompt": "a red circle", "n": 1})
        url = body["data"][0].get("url")
        if not url:
            raise CheckFailed(f"{name}: no url in the answer")
        with gw.open(gw.request("GET", url, auth=False)) as answer:
            size = len(answer.read())
            kind = answer.headers.get("Content-Type", "?")
        return f"{name}: {kind}, {size} bytes"

    failed = _run([("health", health), ("models", models), ("chat", chat),
                   ("stream", stream), ("image", image)])
    if failed:
        raise SystemExit(1)
