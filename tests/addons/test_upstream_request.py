"""The chat request builder: headers and payload per attempt from the current settings."""
from __future__ import annotations

from types import SimpleNamespace

from addons.flow import ChatRequest, Flow, Message
from addons.upstream_request import CHAT_PATH, UpstreamRequestBuilder
from state.settings import Settings


def attempt(builder: UpstreamRequestBuilder, token: str) -> Flow:
    flow = Flow(ChatRequest(model="m", messages=[Message("user", ["hi"])]))
    builder.request(flow)
    flow.lease = SimpleNamespace(token=token)  # type: ignore[assignment]
    flow.attempt.mode = "fast"
    builder.attempt(flow)
    return flow


def test_each_attempt_uses_the_current_settings(tmp_path) -> None:
    settings = Settings(tmp_path / "config.toml", environ={})
    builder = UpstreamRequestBuilder(settings)
    first = attempt(builder, "tok-a").attempt.request
    assert first.url == "https://grok.com" + CHAT_PATH
    assert first.headers["Cookie"].startswith("sso=tok-a")
    settings.set("upstream.base_url", "http://127.0.0.1:9")  # an operator's change, live
    second = attempt(builder, "tok-b").attempt.request
    assert second.url == "http://127.0.0.1:9" + CHAT_PATH
    assert second.headers["Cookie"].startswith("sso=tok-b")
