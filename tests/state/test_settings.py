from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from state.config_values import SettingsError
from state.settings import Settings, env_key, load_defaults

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
    assert s.bool("features.stream") is False  # D-1
    assert s.get("app.app_key") == "grok2api"
    assert s.list("features.filter_tags") == ["xaiartifact", "xai:tool_usage_card", "grok:render"]
    assert s.get("upstream.base_url") == "https://grok.com"
    assert s.int("account.selection.max_inflight") == 8
    assert s.int("account.save_delay_ms") == 500
    assert s.get("retry.reset_session_status_codes") == [403]
    assert s.list("models.enabled") == []
    assert s.source_of("app.app_key") == "default"
    assert not (tmp_path / "config.toml").exists()  # first start seeds nothing


def test_every_default_key_has_a_comment() -> None:
    text = (Path(__file__).parents[2] / "state" / "defaults.toml").read_text(encoding="utf-8")
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.lstrip().startswith("#"):
            assert lines[i - 1].lstrip().startswith("#"), f"no comment above {line!r}"
    assert len(load_defaults()) > 80


def test_file_layer_over_defaults(tmp_path: Path) -> None:
    s = make(tmp_path, USER_TOML)
    assert s.get("app.app_key") == "secret"
    assert s.list("app.api_key") == ["k1", "k2"]
    assert s.bool("features.stream") is True
    assert s.get("app.app_url") == ""  # untouched keys keep their defaults
    assert s.source_of("app.app_key") == "file"


def test_env_layer_wins_and_is_coerced(tmp_path: Path) -> None:
    env = {
        "GROK_APP_APP_KEY": "from-env",
        "GROK_FEATURES_STREAM": "no",
        "GROK_ACCOUNT__SELECTION__MAX_INFLIGHT": "3",
        "GROK_CACHE_LOCAL_IMAGE_MAX_MB": "12",
        "GROK_RETRY_RESET_SESSION_STATUS_CODES": "403, 429",
        "GROK_CHAT_TIMEOUT": "not-a-number",  # ignored with a warning
        "OTHER": "x",
    }
    s = make(tmp_path, USER_TOML, env)
    assert s.get("app.app_key") == "from-env"
    assert s.source_of("app.app_key") == "env"
    assert s.get("features.stream") is False
    assert s.get("account.selection.max_inflight") == 3
    assert s.get("cache.local.image_max_mb") == 12
    assert s.get("retry.reset_session_status_codes") == [403, 429]
    assert s.get("chat.timeout") == 60


@pytest.mark.parametrize("word,expected", [("1", True), ("true", True), ("YES", True),
                                           ("on", True), ("0", False), ("off", False)])
def test_env_bools(tmp_path: Path, word: str, expected: bool) -> None:
    s = make(tmp_path, env={"GROK_FEATURES_MEMORY": word})
    assert s.bool("features.memory") is expected


def test_env_key_forms() -> None:
    known = {k.replace(".", "_"): k for k in load_defaults()}
    assert env_key("APP_API_KEY", known) == "app.api_key"
    assert env_key("FEATURES_STREAM", known) == "features.stream"
    assert env_key("PROXY__EGRESS__MODE", known) == "proxy.egress.mode"
    assert env_key("PROXY_EGRESS_PROXY_URL", known) == "proxy.egress.proxy_url"
    assert env_key("NEW_THING", known) == "new.thing"


def test_typed_getters(tmp_path: Path) -> None:
    s = make(tmp_path, '[x]\nlist_arr = [" a ", "", "b"]\nnum = "2.5"\nflag = "yes"\n'
                       'multi = "p1\\np2,p3"\n')
    assert s.list("x.list_arr") == ["a", "b"]
    assert s.list("x.multi") == ["p1", "p2", "p3"]
    assert s.float("x.num") == 2.5
    assert s.int("x.num") == 2
    assert s.bool("x.flag") is True
    assert s.int("missing.key", 7) == 7
    assert s.str("missing.key", "d") == "d"
    assert s.get("missing.key") is None
    assert s.get("proxy.egress")["mode"] == "direct"  # a table as a dict


def test_get_returns_copies_of_lists(tmp_path: Path) -> None:
    s = make(tmp_path)
    s.get("features.filter_tags").append("zzz")
    assert "zzz" not in s.get("features.filter_tags")


def test_set_keeps_comments_and_order(tmp_path: Path) -> None:
    s = make(tmp_path, USER_TOML)
    s.set("app.app_key", "new-secret")
    s.set("account.selection.max_inflight", "4")
    s.set("features.image_format", "local_md")
    text = (tmp_path / "config.toml").read_text()
    assert text.startswith("# my gateway\n[app]\n# the admin password\n")
    assert 'app_key = "new-secret"   # keep this' in text
    assert "# stream by default" in text
    assert "[account.selection]\nmax_inflight = 4" in text
    assert text.index("[app]") < text.index("[features]") < text.index("[account.selection]")
    assert s.get("account.selection.max_inflight") == 4
    assert s.get("app.app_key") == "new-secret"


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
    ("features.image_format", "png", "must be one of"),
    ("features.video_format", "gif", "must be one of"),
    ("proxy.egress.mode", "vpn", "must be one of"),
    ("proxy.clearance.mode", "auto", "must be one of"),
    ("upstream.chat_transport", "grpc", "must be one of"),
    ("no.such_key", "1", "unknown setting"),
    ("retry.reset_session_status_codes", "403,abc", "list of integers"),
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
    assert s.get("chat.timeout") == 90
    assert s.get("models.disabled") == ["a", "b"]


def test_set_values_by_type(tmp_path: Path) -> None:
    s = make(tmp_path)
    s.set("retry.reset_session_status_codes", "[403, 429]")
    assert s.get("retry.reset_session_status_codes") == [403, 429]
    s.set("app.api_key", ["a", "b"])  # string-or-list key
    assert s.list("app.api_key") == ["a", "b"]
    s.set("proxy.egress.proxy_pool", "http://a:1\nhttp://b:2")
    assert s.get("proxy.egress.proxy_pool") == ["http://a:1", "http://b:2"]


def test_legacy_flat_proxy_keys_win(tmp_path: Path) -> None:
    s = make(tmp_path, '[proxy]\nuser_agent = "UA-flat"\ncf_clearance = " abc def "\n'
                       '[proxy.clearance]\nuser_agent = "UA-nested"\ncf_cookies = "a=1; cf_clearance=old"\n')
    assert s.get("proxy.clearance.user_agent") == "UA-flat"
    assert s.get("proxy.clearance.cf_cookies") == "a=1; cf_clearance=abcdef"
    assert s.get("proxy.clearance.mode") == "manual"  # a legacy clearance cookie implies manual
    assert s.source_of("proxy.clearance.user_agent") == "file"
    # setting the nested key keeps the winning flat alias in step
    s.set("proxy.clearance.user_agent", "UA-new")
    assert s.get("proxy.clearance.user_agent") == "UA-new"
    assert 'user_agent = "UA-new"' in (tmp_path / "config.toml").read_text()


def test_legacy_keys_accepted_by_set(tmp_path: Path) -> None:
    s = make(tmp_path)
    s.set("proxy.cf_clearance", "xyz")
    assert s.get("proxy.clearance.cf_cookies") == "cf_clearance=xyz"
    s.set("token.save_delay_ms", "250")
    assert s.get("account.save_delay_ms") == 250
    s.set("retry.retry_status_codes", [401, 429])
    assert s.list("retry.on_codes") == ["401", "429"]


def test_legacy_alias_does_not_beat_canonical_key(tmp_path: Path) -> None:
    s = make(tmp_path, "[token]\nsave_delay_ms = 100\n[account]\nsave_delay_ms = 700\n"
                       "[retry]\nretry_status_codes = [401, 429, 403]\n")
    assert s.get("account.save_delay_ms") == 700
    assert s.list("retry.on_codes") == ["401", "429", "403"]


def test_reference_config_keeps_working(tmp_path: Path) -> None:
    """A v2-py config.toml (sections the reference ships, unknown extras) loads as is."""
    s = make(tmp_path, '[app]\napi_key = "sk-1"\n[proxy.egress]\nmode = "single_proxy"\n'
                       'proxy_url = "socks5://127.0.0.1:1080"\n[account.refresh]\nenabled = false\n'
                       '[asset.cleanup]\nmax_age_days = 7\n[some_future]\nthing = 1\n')
    assert s.get("proxy.egress.mode") == "single_proxy"
    assert s.bool("account.refresh.enabled") is False
    assert s.int("asset.cleanup.max_age_days") == 7
    assert s.get("some_future.thing") == 1


def test_reload_if_changed_is_throttled(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[app]\napp_key = "one"\n')
    s = Settings(path, environ={}, check_interval=3600)
    assert s.reload_if_changed() is True or s.get("app.app_key") == "one"
    path.write_text('[app]\napp_key = "two-changed"\n')
    assert s.reload_if_changed() is False  # within the interval: no stat at all
    assert s.get("app.app_key") == "one"
    s._next_check = 0.0
    assert s.reload_if_changed() is True
    assert s.get("app.app_key") == "two-changed"
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
    assert s.get("app.app_key") == "ok"
    with pytest.raises(SettingsError):
        s.set("app.app_key", "x")
    assert path.read_text() == "[app\n"


def test_generation_changes_when_the_settings_do(tmp_path) -> None:
    settings = Settings(tmp_path / "config.toml", environ={})
    first = settings.generation
    assert settings.reload_if_changed() is False and settings.generation == first
    settings.set("app.api_key", "sk-new")
    assert settings.generation != first
