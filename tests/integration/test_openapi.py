"""`/openapi.json` describes every `/v1` and admin route, and a schemathesis run against the
real gateway (Hypercorn on a loopback port, the simulator as grok.com) finds no 5xx and no
answer the document does not allow, for valid and for invalid input alike."""
from __future__ import annotations

import asyncio
import re
import time

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

from addons.services.fetch import MediaError
from quart_app import routes_anthropic, routes_images, routes_responses, routes_v1
from quart_app.web import webui_api

# schemathesis's own strategies draw from `random`; hypothesis warns about it on every run
pytestmark = pytest.mark.filterwarnings(
    "ignore::hypothesis.errors.HypothesisDeprecationWarning")

KEY = "fuzz-admin-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
MODEL = "grok-4.20-fast"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
#: Examples per operation: the job routes take the richest bodies and get the most (count_tokens
#: shares the Messages model). About 2,000 requests, under a minute on a busy 2-core machine.
EXAMPLES = {"/v1/chat/completions": 250, "/v1/responses": 300, "/v1/messages": 200,
            "/v1/messages/count_tokens": 100}
DEFAULT_EXAMPLES = 15


async def fetch_document(stack) -> dict:
    async with stack.http() as http:
        async with http.get("/openapi.json") as resp:
            assert resp.status == 200 and resp.content_type == "application/json"
            return await resp.json()


#: the routes outside /v1 and the admin API that the document describes too
PROBES = {("GET", "/health"), ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/version"),
          ("GET", "/metrics")}


def served_routes(app) -> set[tuple[str, str]]:
    """(METHOD, OpenAPI path) of every /v1, admin and WebUI API route the app answers (the
    imagine WebSocket is no HTTP route), and the operator's probes."""
    routes = {("POST", path) for table in (routes_v1.ROUTES, routes_responses.ROUTES,
                                           routes_anthropic.ROUTES, routes_images.ROUTES)
              for path in table}
    routes.add(("POST", webui_api.CHAT_PATH))
    for rule in app.url_map.iter_rules():
        if rule.websocket:
            continue
        if rule.rule.startswith(("/v1/", "/admin/api/", "/webui/api/")) or \
                ("GET", rule.rule) in PROBES and "GET" in rule.methods:
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            routes |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


async def test_the_document_describes_every_route(stack):
    await stack.start_gateway()
    document = await fetch_document(stack)
    described = {(method.upper(), path) for path, ops in document["paths"].items()
                 for method in ops}
    assert described == served_routes(stack.gateway.app)
    schema = schemathesis.openapi.from_dict(document)  # a valid OpenAPI document
    assert len([r.ok() for r in schema.get_all_operations()]) == len(described)


def _strategy(operation) -> st.SearchStrategy:
    """Valid and invalid cases; valid job bodies name a real model half of the time, so
    some reach the simulator and their answers are checked too."""
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                      operation.as_strategy(GenerationMode.NEGATIVE))
    if not operation.path.startswith(("/v1/", "/webui/api/")) \
            or operation.method.upper() != "POST":
        return cases

    def real_model(pair):
        case, real = pair
        if real and isinstance(case.body, dict) and "model" in case.body:
            case.body["model"] = MODEL
        return case
    return st.tuples(cases, st.booleans()).map(real_model)


def fuzz(schema, base_url: str) -> dict[str, int]:
    """Runs every operation; returns the status counts seen (a failed check raises)."""
    seen: dict[str, int] = {}
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        examples = EXAMPLES.get(operation.path, DEFAULT_EXAMPLES)

        @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck),
                  phases=[Phase.explicit, Phase.generate, Phase.shrink])
        @given(case=_strategy(operation))
        def run(case) -> None:
            response = case.call(base_url=base_url, session=session, headers=AUTH, timeout=30)
            seen[str(response.status_code)] = seen.get(str(response.status_code), 0) + 1
            case.validate_response(response, checks=CHECKS, headers=AUTH)

        run()
    return seen


@pytest.fixture
def no_downloads(monkeypatch):
    """Generated media URLs are never fetched: the test sends nothing off this machine."""
    async def refuse(url, limits):
        raise MediaError("is not fetched in this test")
    monkeypatch.setattr("addons.services.fetch.fetch_url", refuse)


async def test_schemathesis_finds_no_5xx_and_no_answer_off_the_document(stack, no_downloads):
    # the WebUI's key is the admin's here, so the one Authorization header opens both; the
    # fuzzer sends wrong secrets to the login call by design: no lockout of its address
    await stack.start_gateway(GROK_APP_APP_KEY=KEY, GROK_ATTACHMENTS_MAX_COUNT="2",
                              GROK_APP_WEBUI_ENABLED="true", GROK_APP_WEBUI_KEY=KEY,
                              GROK_ADMIN_THROTTLE_FREE_FAILURES="1000000",
                              GROK_ADMIN_THROTTLE_LOCKOUT_FAILURES="1000001")
    for i in range(3):
        stack.add_account(f"tok-fuzz-{i}", "super")
    schema = schemathesis.openapi.from_dict(await fetch_document(stack))
    started = time.monotonic()
    seen = await asyncio.to_thread(fuzz, schema, stack.url)
    took = time.monotonic() - started
    assert "200" in seen and "400" in seen, seen  # both valid and invalid input were sent
    assert not any(status.startswith("5") for status in seen), seen
    print(f"schemathesis: {sum(seen.values())} requests in {took:.1f}s, statuses {seen}")
