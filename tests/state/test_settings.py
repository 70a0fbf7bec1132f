from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from state.config_values import SettingsError
from state.declarers import declared_options
from state.settings import Settings, env_key

USER_TOML = """\
# my gateway
[app]
# the admin password
app_key = "secret"   # keep this
api_key = "k1, k2"

[features]
# stream by default
stream = true
"""


def make(tmp_path: Path, text: str | None = None, env: dict[str, str] | None = None) -> Settings:
    path = tmp_path / "config.toml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    return Settings(path, environ=env or {})


def test_defaults_without_user_file(tmp_path: Path) -> None:
    s = make(tmp_path)
    opts = s.options
    assert opts.features.stream is False  # JSON unless a request asks for a stream
    assert opts.app.app_key == "grok2api"
    assert opts.features.filter_tags == ("xaiartifact", "xai:tool_usage_card", "grok:render")
    assert opts.upstream.base_url == "https://grok.com"
    assert opts.account.selection.max_inflight == 8
    assert opts.account.save_delay_ms == 500
    assert opts.retry.on_codes == (429, 401, 503)
    assert opts.models.enabled == ()
    assert opts["chat.timeout"] == 60.0
    assert s.get("features.filter_tags") == ["xaiartifact", "xai:tool_usage_card", "grok:render"]
    assert s.source_of("app.app_key") == "default"
    assert s.ignored_keys() == {}
    assert not (tmp_path / "config.toml").exists()  # first start seeds nothing


def test_options_are_read_only_and_name_undeclared_keys(tmp_path: Path) -> None:
    opts = make(tmp_path).options
    with pytest.raises(AttributeError, match="read-only"):
        opts.retry.max_retries = 3
    with pytest.raises(AttributeError, match="no option retry.max_retry is declared"):
        opts.retry.max_retry


def test_file_layer_over_defaults(tmp_path: Path) -> None:
    s = make(tmp_path, USER_TOML)
    assert s.options.app.app_key == "secret"
    assert s.options.app.api_key == ("k1", "k2")  # a comma-separated string is a list
    assert s.options.features.stream is True
    assert s.options.features.thinking is True  # untouched keys keep their defaults
    assert s.source_of("app.app_key") == "file"


def test_env_layer_wins_and_is_coerced(tmp_path: Path) -> None:
    env = {
        "GROK_APP_APP_KEY": "from-env",
        "GROK_FEATURES_STREAM": "no",
        "GROK_ACCOUNT__SELECTION__MAX_INFLIGHT": "3",
        "GROK_ACCOUNT_REFRESH_USAGE_CONCURRENCY": "12",
        "GROK_RETRY_ON_CODES": "403, 429",
        "GROK_CHAT_TIMEOUT": "not-a-number",  # ignored with a warning
        "OTHER": "x",
    }
    s = make(tmp_path, USER_TOML, env)
    assert s.options.app.app_key == "from-env"
    assert s.source_of("app.app_key") == "env"
    assert s.options.features.stream is False
    assert s.options.account.selection.max_inflight == 3
    assert s.options.account.refresh.usage_concurrency == 12
    assert s.options.retry.on_codes == (403, 429)
    assert s.options.chat.timeout == 60.0


@pytest.mark.parametrize("word,expected", [("1", True), ("true", True), ("YES", True),
                                           ("on", True), ("0", False), ("off", False)])
def test_env_bools(tmp_path: Path, word: str, expected: bool) -> None:
    s = make(tmp_path, env={"GROK_FEATURES_MEMORY": word})
    assert s.options.features.memory is expected


def test_env_key_forms() -> None:
    known = {k.replace(".", "_"): k for k in declared_options()}
    assert env_key("APP_API_KEY", known) == "app.api_key"
    assert env_key("FEATURES_STREAM", known) == "features.stream"
    assert env_key("PROXY__EGRESS__MODE", known) == "proxy.egress.mode"
    assert env_key("PROXY_EGRESS_PROXY_URL", known) == "proxy.egress.proxy_url"
    assert env_key("NEW_THING", known) == "new.thing"


def test_file_values_are_converted_to_the_declared_type(tmp_path: Path) -> None:
    s = make(tmp_path, '[models]\nenabled = [" a ", "", "b"]\ndisabled = "p1\\np2,p3"\n'
                       '[chat]\ntimeout = "2.5"\n[features]\nmemory = "yes"\n'
                       '[app]\napp_key = 12345\n[account.selection]\nmax_inflight = 3.0\n')
    opts = s.options
    assert opts.models.enabled == ("a", "b")
    assert opts.models.disabled == ("p1", "p2", "p3")
    assert opts.chat.timeout == 2.5
    assert opts.features.memory is True
    assert opts.app.app_key == "12345"  # a numeric password written without quotes
    assert opts.account.selection.max_inflight == 3
    assert s.get("missing.key") is None


def test_invalid_file_value_falls_back_to_default_and_is_logged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="state.settings"):
        s = make(tmp_path, '[chat]\ntimeout = "soon"\n[upstream]\nchat_transport = "grpc"\n'
                           '[retry]\nmax_retries = 2\n')
    assert s.options.chat.timeout == 60.0
    assert s.options.upstream.chat_transport == "rest"
    assert s.options.retry.max_retries == 2  # the valid keys still apply
    text = caplog.text
    assert "chat.timeout: expected a number, got 'soon'" in text
    assert "upstream.chat_transport: must be one of rest | mgw" in text


def test_get_returns_copies_of_lists(tmp_path: Path) -> None:
    s = make(tmp_path)
    s.get("features.filter_tags").append("zzz")
    assert "zzz" not in s.get("features.filter_tags")


def test_set_keeps_comments_and_order(tmp_path: Path) -> None:
    s = make(tmp_path, USER_TOML)
    s.set("app.app_key", "new-secret")
    s.set("account.selection.max_inflight", "4")
    s.set("upstream.chat_transport", "mgw")
    text = (tmp_path / "config.toml").read_text()
    assert text.startswith("# my gateway\n[app]\n# the admin password\n")
    assert 'app_key = "new-secret"   # keep this' in text
    assert "# stream by default" in text
    assert "[account.selection]\nmax_inflight = 4" in text
    assert text.index("[app]") < text.index("[features]") < text.index("[account.selection]")
    assert s.options.account.selection.max_inflight == 4
    assert s.options.app.app_key == "new-secret"
    assert s.options.upstream.chat_transport == "mgw"


def test_set_creates_file_private(tmp_path: Path) -> None:
    s = make(tmp_path)
    s.set("features.stream", "true")
    path = tmp_path / "config.toml"
    assert path.read_text() == "[features]\nstream = true\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert s.source_of("features.stream") == "file"


@pytest.mark.parametrize("key,value,fragment", [
    ("account.selection.max_inflight", "many", "expected an integer"),
    ("features.stream", "maybe", "expected true or false"),
    ("proxy.egress.mode", "vpn", "must be one of"),
    ("upstream.chat_transport", "grpc", "must be one of rest | mgw"),
    ("no.such_key", "1", "unknown setting"),
    ("cache.keep_base64_cache", "true", "nothing in this version reads it"),
    ("logging.max_files", "0", "must be at least 1"),
    ("features.image_format", "gif", "must be one of"),
    ("retry.on_codes", "403,abc", "list of integers"),
    ("app.app_key", 5.5, "expected a string"),
])
def test_invalid_values_leave_file_untouched(tmp_path: Path, key: str, value: object,
                                              fragment: str) -> None:
    s = make(tmp_path, USER_TOML)
    before = (tmp_path / "config.toml").read_bytes()
    with pytest.raises(SettingsError) as err:
        s.set(key, value)
    assert key in str(err.value) and fragment in str(err.value)
    assert (tmp_path / "config.toml").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]  # no temp file left


def test_set_many_is_all_or_nothing(tmp_path: Path) -> None:
    s = make(tmp_path, USER_TOML)
    before = (tmp_path / "config.toml").read_bytes()
    with pytest.raises(SettingsError, match="chat.timeout"):
        s.set_many({"app.app_key": "ok", "chat.timeout": "soon"})
    assert (tmp_path / "config.toml").read_bytes() == before
    s.set_many({"app.app_key": "ok", "chat.timeout": "90", "models.disabled": "a, b"})
    assert s.options.chat.timeout == 90.0
    assert s.options.models.disabled == ("a", "b")


def test_set_values_by_type(tmp_path: Path) -> None:
    s = make(tmp_path)
    s.set("retry.on_codes", "[403, 429]")
    assert s.options.retry.on_codes == (403, 429)
    s.set("app.api_key", ["a", "b"])
    assert s.options.app.api_key == ("a", "b")
    s.set("proxy.egress.proxy_pool", "http://a:1\nhttp://b:2")
    assert s.get("proxy.egress.proxy_pool") == ["http://a:1", "http://b:2"]
    assert 'proxy_pool = ["http://a:1", "http://b:2"]' in (tmp_path / "config.toml").read_text()


def test_chat_transport_ws_is_read_as_mgw(tmp_path: Path) -> None:
    s = make(tmp_path, '[upstream]\nchat_transport = "ws"\n')
    assert s.options.upstream.chat_transport == "mgw"
    env = {"GROK_UPSTREAM_CHAT_TRANSPORT": "WS"}
    assert make(tmp_path, env=env).options.upstream.chat_transport == "mgw"


def test_legacy_flat_proxy_keys_win(tmp_path: Path) -> None:
    s = make(tmp_path, '[proxy]\nuser_agent = "UA-flat"\ncf_clearance = " abc def "\n'
                       '[proxy.clearance]\nuser_agent = "UA-nested"\ncf_cookies = "a=1; cf_clearance=old"\n')
    assert s.options.proxy.clearance.user_agent == "UA-flat"
    assert s.options.proxy.clearance.cf_cookies == "a=1; cf_clearance=abcdef"
    assert s.ignored_keys() == {}  # older names are read, not ignored
    assert s.source_of("proxy.clearance.user_agent") == "file"
    # setting the nested key keeps the winning flat alias in step
    s.set("proxy.clearance.user_agent", "UA-new")
    assert s.options.proxy.clearance.user_agent == "UA-new"
    assert 'user_agent = "UA-new"' in (tmp_path / "config.toml").read_text()


def test_legacy_keys_accepted_by_set(tmp_path: Path) -> None:
    s = make(tmp_path)
    s.set("proxy.cf_clearance", "xyz")
    assert s.options.proxy.clearance.cf_cookies == "cf_clearance=xyz"
    assert s.option("proxy.cf_clearance").name == "proxy.clearance.cf_cookies"
    s.set("token.save_delay_ms", "250")
    assert s.options.account.save_delay_ms == 250
    assert s.get("token.save_delay_ms") == 250
    s.set("retry.retry_status_codes", [401, 429])
    assert s.options.retry.on_codes == (401, 429)
    with pytest.raises(SettingsError, match="token.save_delay_ms: expected an integer"):
        s.set("token.save_delay_ms", "soon")


def test_legacy_alias_does_not_beat_canonical_key(tmp_path: Path) -> None:
    s = make(tmp_path, "[token]\nsave_delay_ms = 100\n[account]\nsave_delay_ms = 700\n"
                       "[retry]\nretry_status_codes = [401, 429, 403]\n")
    assert s.options.account.save_delay_ms == 700
    assert s.options.retry.on_codes == (401, 429, 403)


def test_reference_config_keeps_working(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A config.toml of an earlier version or of the FastAPI gateway loads: the keys this
    version reads apply, every other key is logged once as ignored and listed."""
    text = ('[app]\napi_key = "sk-1"\nwebui_enabled = true\n[cache]\nkeep_base64_cache = true\n'
            '[logging]\nmax_files = 14\n'
            '[proxy.egress]\nmode = "single_proxy"\nproxy_url = "socks5://127.0.0.1:1080"\n'
            '[proxy.clearance]\nmode = "flaresolverr"\n'
            '[account.refresh]\nenabled = false\n[asset.cleanup]\nmax_age_days = 7\n'
            '[some_future]\nthing = 1\n')
    with caplog.at_level(logging.WARNING, logger="state.settings"):
        s = make(tmp_path, text, env={"GROK_CACHE_LOCAL_IMAGE_MAX_MB": "12",
                                      "GROK_CACHE_LOCAL_AUDIO_MAX_MB": "3"})
        s.reload()  # reloading does not log the same keys again
    assert s.options.app.api_key == ("sk-1",)
    assert s.options.proxy.egress.mode == "single_proxy"
    assert s.options.account.refresh.enabled is False
    assert s.options.proxy.clearance.mode == "flaresolverr"
    assert s.options.cache.local.image_max_mb == 12  # the earlier env spelling is read
    assert s.options.app.webui_enabled is True  # read now: the web chat
    path = str(tmp_path / "config.toml")
    assert s.ignored_keys() == {
        "cache.keep_base64_cache": path,
        "asset.cleanup.max_age_days": path, "some_future.thing": path,
        "cache.local_audio_max_mb": "environment variable GROK_CACHE_LOCAL_AUDIO_MAX_MB",
    }
    assert s.get("cache.keep_base64_cache") is None
    assert s.options.logging.max_files == 14  # read now: the daily log files
    lines = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
    assert len(lines) == 4
    assert (f"{path}: cache.keep_base64_cache is ignored: nothing in this version reads it"
            in lines)
    assert ("environment variable GROK_CACHE_LOCAL_AUDIO_MAX_MB: cache.local_audio_max_mb is "
            "ignored: nothing in this version reads it") in lines


def test_an_alias_whose_target_is_not_declared_is_ignored(tmp_path: Path) -> None:
    declared = {k: v for k, v in declared_options().items() if k != "account.save_delay_ms"}
    path = tmp_path / "config.toml"
    path.write_text("[token]\nsave_delay_ms = 100\nnsfw_refresh_concurrency = 2\n")
    s = Settings(path, environ={}, declared=declared)
    assert s.options.batch.nsfw_concurrency == 2
    assert list(s.ignored_keys()) == ["token.save_delay_ms"]
    with pytest.raises(SettingsError, match="token.save_delay_ms: unknown setting"):
        s.set("token.save_delay_ms", "5")


def test_reload_if_changed_is_throttled(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[app]\napp_key = "one"\n')
    s = Settings(path, environ={}, check_interval=3600)
    assert s.reload_if_changed() is True or s.options.app.app_key == "one"
    path.write_text('[app]\napp_key = "two-changed"\n')
    assert s.reload_if_changed() is False  # within the interval: no stat at all
    assert s.options.app.app_key == "one"
    s._next_check = 0.0
    assert s.reload_if_changed() is True
    assert s.options.app.app_key == "two-changed"
    s._next_check = 0.0
    assert s.reload_if_changed() is False  # unchanged file


def test_broken_user_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[app\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        Settings(path, environ={})
    path.write_text('[app]\napp_key = "ok"\n')
    s = Settings(path, environ={}, check_interval=0)
    path.write_text("[app\n")
    os.utime(path, ns=(1, 1))
    s.reload_if_changed()  # logged, previous values kept
    assert s.options.app.app_key == "ok"
    with pytest.raises(SettingsError):
        s.set("app.app_key", "x")
    assert path.read_text() == "[app\n"


def test_generation_changes_when_the_settings_do(tmp_path) -> None:
    settings = Settings(tmp_path / "config.toml", environ={})
    first = settings.generation
    assert settings.reload_if_changed() is False and settings.generation == first
    settings.set("app.api_key", "sk-new")
    assert settings.generation != first


def test_an_older_grok_section_is_read_with_a_warning_naming_each_new_key(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text = ('[grok]\ntemporary = false\nmax_retry = 3\nbase_proxy_url = "http://u:pw@p:8080"\n'
            'cf_clearance = "abc123"\nimage_generation_method = "legacy"\n'
            '[retry]\nmax_retries = 2\n')
    with caplog.at_level(logging.WARNING, logger="state.settings"):
        s = make(tmp_path, text)
    opts = s.options
    assert opts.features.temporary is False
    assert opts.retry.max_retries == 2  # the new name in the same file wins
    assert opts.proxy.egress.proxy_url == "http://u:pw@p:8080"
    assert opts.proxy.egress.mode == "single_proxy"
    assert "cf_clearance=abc123" in opts.proxy.clearance.cf_cookies
    log = caplog.text
    assert "[grok] temporary is an older name, read as features.temporary" in log
    assert "[grok] max_retry is an older name, read as retry.max_retries" in log
    assert "proxy.egress.proxy_url and proxy.egress.mode" in log
    assert "[grok] image_generation_method is ignored: the model decides" in log
    assert "pw@" not in log and "abc123" not in log  # values never reach the log
    assert list(s.ignored_keys()) == ["grok.image_generation_method"]
