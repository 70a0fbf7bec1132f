"""The keys addon on a flow: the allow-list (aliases included), the scope and NSFW policy on
the flow, limits judged once per request before any lease, usage settled at the end."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from addons.auth import Auth
from addons.errors import ApiError
from addons.flow import Attempt, ClientKey
from addons.jobs import ImageRequest, VideoRequest
from addons.keys import Keys, charges
from addons.services.catalogue import Catalogue
from addons.testflow import tflow
from state.keys import KeyPolicy, KeyRecord, Scope, hash_key
from state.keys_service import KeyService

SETTINGS = SimpleNamespace(options=SimpleNamespace(
    app=SimpleNamespace(api_key=[]), models=SimpleNamespace(enabled=[], disabled=[]),
    keys=SimpleNamespace(sync_interval_sec=1.0)))
VALUE = "sk-unit-test-key-0123456789"


def service(**policy) -> KeyService:
    keys = KeyService(None, SETTINGS)  # type: ignore[arg-type]
    keys._install(1, [KeyRecord(id="key_1", name="unit", key_hash=hash_key(VALUE),
                                display_key="sk-uni...6789", policy=KeyPolicy(**policy))])
    return keys


def authed(keys: KeyService, **kw):
    flow = tflow(headers={"authorization": f"Bearer {VALUE}"}, **kw)
    Auth(SETTINGS, keys).requestheaders(flow)
    return flow


def test_auth_names_the_managed_key_and_refuses_strangers() -> None:
    keys = service()
    flow = authed(keys)
    assert flow.client == ClientKey("key_1", "unit")
    stranger = tflow(headers={"x-api-key": VALUE + "x"})
    with pytest.raises(ApiError) as info:
        Auth(SETTINGS, keys).requestheaders(stranger)
    assert info.value.status == 401 and info.value.code == "invalid_api_key"
    open_flow = tflow()
    Auth(SETTINGS, None).requestheaders(open_flow)  # no key of any kind: open
    assert open_flow.client == ClientKey(None, "open")


def test_allow_list_scope_and_nsfw_go_on_the_flow() -> None:
    catalogue = Catalogue(SETTINGS)
    keys = service(models=("grok-4.20-fast",), scope=Scope(frozenset({"super"})), nsfw=False)
    addon = Keys(keys, catalogue)
    flow = authed(keys)
    addon.request(flow)
    assert flow.account_scope == Scope(frozenset({"super"})) and flow.nsfw_allowed is False
    for model in ("grok-4.20-auto", "no-such-model"):
        with pytest.raises(ApiError) as info:
            addon.request(authed(keys, model=model))
        assert info.value.status == 404 and info.value.code == "model_not_found"


def test_limits_are_judged_once_and_settled_at_the_end() -> None:
    keys = service(rpm=1, limits={"tokens": 10})
    addon = Keys(keys)
    flow = authed(keys)
    flow.attempt = Attempt(1)
    addon.attempt(flow)
    flow.attempt = Attempt(2)  # a failover try is not a new request
    addon.attempt(flow)
    second = authed(keys)
    second.attempt = Attempt(1)
    with pytest.raises(ApiError) as info:
        addon.attempt(second)
    assert info.value.status == 429 and info.value.code == "rpm_exceeded"
    assert info.value.retry_after and info.value.retry_after >= 1
    flow.usage.prompt_tokens, flow.usage.completion_tokens = 4, 8
    addon.finish(flow)
    assert keys.usage_today("key_1")["tokens"] == 12
    assert keys.usage_today("key_1")["chat"] == 1


def test_what_each_kind_of_request_costs() -> None:
    catalogue = Catalogue(SETTINGS)
    flow = tflow(model="grok-4.20-multi-agent-0309")
    flow.model = catalogue.resolve(flow.request.model)
    assert charges(flow) == {"chat": 1, "heavy": 1}
    flow = tflow()
    flow.model = catalogue.resolve(flow.request.model)
    assert charges(flow) == {"chat": 1}
    flow.request = ImageRequest(model="grok-imagine-image", prompt="x", n=2)
    assert charges(flow) == {"image": 2}
    flow.request = VideoRequest(model="grok-imagine-video", prompt="x")
    assert charges(flow) == {"video": 1}
