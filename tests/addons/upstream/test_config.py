from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import tomlkit

from addons.upstream.config import DEFAULT_USER_AGENT, FIXED_STATSIG_ID, UpstreamConfig
from addons.upstream.headers import cookie_header
from state.config_values import unflatten
from state.settings import Settings


@pytest.fixture
def settings_from(tmp_path: Path):
    """Settings whose user file holds these dotted keys (checked as a real file would be)."""
    def make(values: dict[str, Any]) -> Settings:
        path = tmp_path / "config.toml"
        path.write_text(tomlkit.dumps(unflatten(values)))
        return Settings(path, environ={})
    return make


@pytest.fixture
def FakeSettings(settings_from):  # noqa: N802 - keeps the tests below as they were
    return settings_from


def test_defaults(FakeSettings) -> None:
    cfg = UpstreamConfig.from_settings(FakeSettings({}))
    assert cfg.base_url == "https://grok.com"
    assert cfg.assets_url == "https://assets.grok.com"
    assert cfg.user_agent == DEFAULT_USER_AGENT and "Chrome/136" in cfg.user_agent
    assert cfg.browser == "chrome136"
    assert cfg.proxy_url is None and cfg.pick_proxy() is None
    assert cfg.dynamic_statsig is True and cfg.statsig_id == FIXED_STATSIG_ID
    assert cfg.temporary is True and cfg.memory is False and cfg.custom_instruction == ""
    assert cfg.timeouts.idle == 60 and cfg.timeouts.first_byte == 30 and cfg.timeouts.total == 600
    assert cfg.http1_only is False
    assert cfg.chat_url == "https://grok.com/rest/app-chat/conversations/new"


def test_flat_legacy_keys_win(FakeSettings) -> None:
    cfg = UpstreamConfig.from_settings(FakeSettings({
        "proxy.user_agent": "UA-flat", "proxy.clearance.user_agent": "UA-nested",
        "proxy.browser": "", "proxy.clearance.browser": "chrome120",
        "proxy.cf_cookies": "a=1", "proxy.clearance.cf_cookies": "b=2",
        "proxy.clearance.cf_clearance": " x y\n",
    }))
    assert cfg.user_agent == "UA-flat"
    assert cfg.browser == "chrome120"  # empty flat key does not win
    assert cfg.cf_cookies == "a=1; cf_clearance=xy"  # the bare clearance value folded in
    assert cookie_header(cfg, "t") == "sso=t; sso-rw=t; a=1; cf_clearance=xy"


def test_proxy_modes_and_coercion(FakeSettings) -> None:
    single = UpstreamConfig.from_settings(FakeSettings({
        "proxy.egress.mode": "single_proxy", "proxy.egress.proxy_url": "socks5h://p:1",
        "proxy.egress.skip_ssl_verify": "true",
    }))
    assert single.pick_proxy() == "socks5h://p:1" and single.skip_ssl_verify is True
    pool = UpstreamConfig.from_settings(FakeSettings({
        "proxy.egress.mode": "proxy_pool", "proxy.egress.proxy_pool": "http://a:1\nhttp://b:2\n",
    }))
    assert [pool.pick_proxy() for _ in range(4)] == ["http://a:1", "http://b:2"] * 2
    direct = UpstreamConfig.from_settings(FakeSettings({"proxy.egress.proxy_url": "http://x:1"}))
    assert direct.pick_proxy() is None


def test_features_timeouts_and_base_url(FakeSettings) -> None:
    cfg = UpstreamConfig.from_settings(FakeSettings({
        "upstream.base_url": "http://127.0.0.1:9000/", "features.dynamic_statsig": "0",
        "upstream.statsig_id": "abc", "features.temporary": False, "features.memory": "yes",
        "features.custom_instruction": "  be kind ", "chat.timeout": "12",
        "chat.first_byte_timeout": 5, "chat.total_timeout": "bad",
    }))
    assert cfg.base_url == "http://127.0.0.1:9000" and cfg.http1_only is True
    assert cfg.dynamic_statsig is False and cfg.statsig_id == "abc"
    assert cfg.temporary is False and cfg.memory is True and cfg.custom_instruction == "be kind"
    assert (cfg.timeouts.idle, cfg.timeouts.first_byte, cfg.timeouts.total) == (12, 5, 600)


def test_account_service_urls(FakeSettings) -> None:
    default = UpstreamConfig.from_settings(FakeSettings({}))
    assert default.tos_url == "https://accounts.x.ai/auth_mgmt.AuthManagement/SetTosAcceptedVersion"
    assert default.birth_date_url == "https://grok.com/rest/auth/set-birth-date"
    assert default.feature_controls_url == (
        "https://grok.com/auth_mgmt.AuthManagement/UpdateUserFeatureControls")
    sim = UpstreamConfig.from_settings(FakeSettings({"upstream.accounts_url": "http://h:9/"}))
    assert sim.tos_url == "http://h:9/auth_mgmt.AuthManagement/SetTosAcceptedVersion"


def test_media_downloads_use_the_resource_proxy_else_the_api_egress():
    from state.options import FixedSettings

    api_only = UpstreamConfig.from_settings(FixedSettings({
        "proxy.egress.mode": "single_proxy", "proxy.egress.proxy_url": "http://api:1"}))
    assert api_only.pick_resource_proxy() == "http://api:1"
    pooled = UpstreamConfig.from_settings(FixedSettings({
        "proxy.egress.mode": "single_proxy", "proxy.egress.proxy_url": "http://api:1",
        "proxy.egress.resource_proxy_url": "http://media:1",
        "proxy.egress.resource_proxy_pool": ["http://m1:1", "http://m2:1"]}))
    assert [pooled.pick_resource_proxy() for _ in range(3)] == ["http://m1:1", "http://m2:1", "http://m1:1"]
    single = UpstreamConfig.from_settings(FixedSettings({"proxy.egress.resource_proxy_url": "http://media:1"}))
    assert single.pick_resource_proxy() == "http://media:1" and single.pick_proxy() is None
