"""`GET /metrics` over real sockets, read with prometheus_client's own parser: the counters
match the traffic sent with the official client (requests by status class and key name,
tokens, upstream tries by outcome after an injected fault), the in-flight gauges return to 0,
the account gauges follow the pool, `metrics.token` guards the scrape, and no secret appears
in it."""
from __future__ import annotations

import asyncio

import aiohttp
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

MODEL = "grok-4.20-fast"
KEY = "sk-metrics-client-key-0123456789"
METRICS_TOKEN = "scrape-token-9876543210abcdef"
SSO = ("sso-metrics-account-aaaaaaaaaaaa", "sso-metrics-account-bbbbbbbbbbbb")
CHAT = "/v1/chat/completions"


@pytest.fixture(autouse=True)
def _single_process(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)


async def scrape(stack, token: str | None = METRICS_TOKEN) -> tuple[int, str]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with stack.http() as http:
        async with http.get("/metrics", headers=headers) as resp:
            return resp.status, await resp.text()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) → value, every family of the exposition."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def total(found: dict, name: str, **labels: str) -> float:
    """The sum over every series of `name` whose labels include `labels`."""
    return sum(v for (n, ls), v in found.items()
               if n == name and set(labels.items()) <= set(ls))


async def test_counters_match_the_traffic_and_nothing_secret_shows(stack):
    await stack.start_gateway(GROK_APP_API_KEY=KEY, GROK_METRICS_TOKEN=METRICS_TOKEN)
    for token in SSO:
        stack.add_account(token, "super")
    client = stack.openai(api_key=KEY)
    prompt = completion = 0
    for i in range(3):
        r = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": f"[[sim tokens={4 + i}]]"}])
        prompt, completion = prompt + r.usage.prompt_tokens, completion + r.usage.completion_tokens
    for _ in range(2):
        stream = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "[[sim tokens=5]]"}],
            stream=True, stream_options={"include_usage": True})
        usage = [c.usage async for c in stream if c.usage is not None][-1]
        prompt, completion = prompt + usage.prompt_tokens, completion + usage.completion_tokens
    # one try refused with a 429: the request fails over to the other account and succeeds
    stack.sim.state.inject("429", times=1)
    r = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "[[sim tokens=3]]"}])
    prompt, completion = prompt + r.usage.prompt_tokens, completion + r.usage.completion_tokens
    with pytest.raises(openai.APIStatusError) as bad:  # a model nobody serves: a 4xx
        await client.chat.completions.create(model="no-such-model",
                                             messages=[{"role": "user", "content": "hi"}])
    assert 400 <= bad.value.status_code < 500
    with pytest.raises(openai.AuthenticationError):
        await stack.openai(api_key="sk-not-a-key").chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}])

    status, text = await scrape(stack)
    assert status == 200
    found = samples(text)
    requests = "grok2api_requests_total"
    assert value(found, requests, endpoint=CHAT, model=MODEL, status="2xx", key="app") == 6
    assert total(found, requests, endpoint=CHAT, status="4xx", key="app") == 1
    assert total(found, requests, endpoint=CHAT, status="4xx", key="none") == 1
    assert value(found, "grok2api_tokens_total", kind="prompt", model=MODEL, key="app") == prompt
    assert value(found, "grok2api_tokens_total", kind="completion", model=MODEL,
                 key="app") == completion > 0
    # every try that reached grok.com: six answers and the refused one
    assert value(found, "grok2api_upstream_calls_total", status="200", outcome="ok") == 6
    assert value(found, "grok2api_upstream_calls_total", status="429",
                 outcome="rate_limited") == 1
    assert total(found, "grok2api_upstream_calls_total") == 7
    assert total(found, "grok2api_request_duration_seconds_count", endpoint=CHAT) == 8
    # time to first token: the streams' (their first content reached the client)
    assert value(found, "grok2api_time_to_first_token_seconds_count",
                 endpoint=CHAT, model=MODEL) == 2
    assert value(found, "grok2api_requests_in_flight") == 0
    assert value(found, "grok2api_streams_in_flight") == 0
    assert value(found, "grok2api_accounts", pool="super", state="active") == 2
    assert value(found, "grok2api_accounts", pool="basic", state="active") == 0
    assert ("grok2api_media_cache_files", (("kind", "image"),)) in found
    for secret in (KEY, METRICS_TOKEN, "sk-not-a-key", *SSO):
        assert secret not in text


async def test_in_flight_gauges_count_an_open_stream_and_return_to_zero(stack):
    await stack.start_gateway()
    stack.add_account(SSO[0], "super")
    async with aiohttp.ClientSession(base_url=stack.url) as http:
        async with http.post(CHAT, json={
                "model": MODEL, "stream": True,
                "messages": [{"role": "user", "content": "[[sim tokens=40 delay_ms=50]]"}]}) as resp:
            assert resp.status == 200
            await resp.content.readline()  # the stream is open
            _, text = await scrape(stack, token=None)
            found = samples(text)
            assert value(found, "grok2api_requests_in_flight") == 1
            assert value(found, "grok2api_streams_in_flight") == 1
            await resp.read()
    for _ in range(50):  # the flow closes right after the last byte
        found = samples((await scrape(stack, token=None))[1])
        if value(found, "grok2api_requests_in_flight") == 0:
            break
        await asyncio.sleep(0.02)
    assert value(found, "grok2api_requests_in_flight") == 0
    assert value(found, "grok2api_streams_in_flight") == 0
    assert value(found, "grok2api_requests_total", endpoint=CHAT, model=MODEL, status="2xx",
                 key="open") == 1


async def test_the_metrics_token_guards_the_scrape(stack):
    await stack.start_gateway(GROK_METRICS_TOKEN=METRICS_TOKEN)
    assert (await scrape(stack, token=None))[0] == 401
    status, body = await scrape(stack, token="wrong-token")
    assert status == 401 and METRICS_TOKEN not in body
    assert (await scrape(stack))[0] == 200


async def test_the_account_gauges_follow_the_pool(stack):
    await stack.start_gateway()
    stack.add_account(SSO[0], "super")
    stack.add_account(SSO[1], "basic")
    stack.gateway.pool.disable(SSO[1])
    found = samples((await scrape(stack, token=None))[1])
    assert value(found, "grok2api_accounts", pool="super", state="active") == 1
    assert value(found, "grok2api_accounts", pool="basic", state="disabled") == 1
    assert value(found, "grok2api_accounts", pool="basic", state="active") == 0


async def test_a_managed_key_is_labelled_by_its_name_and_its_rpm_refusal_counted(stack):
    admin = {"Authorization": "Bearer metrics-admin-secret"}
    await stack.start_gateway(GROK_APP_APP_KEY="metrics-admin-secret")
    stack.add_account(SSO[0], "super")
    async with stack.http(headers=admin) as http:
        async with http.post("/admin/api/keys", json={"name": "team-a", "rpm": 2}) as resp:
            assert resp.status == 200
            key = (await resp.json())["data"]["key"]
    client = stack.openai(api_key=key)
    for _ in range(2):
        await client.chat.completions.create(model=MODEL,
                                             messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.RateLimitError):  # over the key's requests per minute
        await client.chat.completions.create(model=MODEL,
                                             messages=[{"role": "user", "content": "hi"}])
    text = (await scrape(stack, token=None))[1]
    found = samples(text)
    assert value(found, "grok2api_requests_total", endpoint=CHAT, model=MODEL, status="2xx",
                 key="team-a") == 2
    assert total(found, "grok2api_requests_total", endpoint=CHAT, status="4xx",
                 key="team-a") == 1
    assert value(found, "grok2api_requests_in_flight") == 0
    assert key not in text and key[:12] not in text
