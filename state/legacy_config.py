"""The configuration keys of the older FastAPI gateways, and what each became here.

One table for every generation (api-surface §9.3/§9.4): v0's `setting.toml` (`[global]`,
`[grok]`), v1.x's `config.toml` (`[app]`, `[proxy]`, `[chat]`, `[token]`, …), the fork's
`[grok]` section and extra keys, and v2-py's `config.toml` (mostly today's names). Each older
key either maps to today's key(s), with its value converted (hours → seconds, `url` →
`local_url`, `disable_memory` → `memory = not …`), or is dropped with the reason said.

Pure: no file, no settings object. `grok2api migrate` reports every key through it, and the
settings layer reads a leftover `[grok]` section of `config.toml` through it at startup, so an
old file keeps working (with a warning naming each key's new name) instead of being ignored.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from state.config_values import CF_COOKIES_KEY, LEGACY, fold_cf_clearance, split_list

__all__ = ["ConfigMapping", "Dropped", "Mapped", "map_config", "map_grok_section",
           "rule_for"]

Pairs = list[tuple[str, Any]]
#: A rule: the new (key, value) pairs for an old value, or the reason the key is dropped.
Rule = Callable[[Any], Pairs] | str

_PROXY_MODE = "proxy.egress.mode"
_OLD_ADMIN_DEFAULT = "admin"  # v0 and the fork shipped admin/admin


@dataclass(frozen=True, slots=True)
class Mapped:
    old: str
    new: str
    value: Any


@dataclass(frozen=True, slots=True)
class Dropped:
    old: str
    reason: str


@dataclass(slots=True)
class ConfigMapping:
    mapped: list[Mapped] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)

    def values(self) -> dict[str, Any]:
        """Today's key → value, first mapping of a key wins (the caller orders its sources)."""
        out: dict[str, Any] = {}
        for item in self.mapped:
            out.setdefault(item.new, item.value)
        return out


def _to(new: str, convert: Callable[[Any], Any] | None = None) -> Callable[[Any], Pairs]:
    return lambda v: [(new, convert(v) if convert else v)]


def _proxy(new: str) -> Callable[[Any], Pairs]:
    """An API proxy URL; a non-empty one also selects the single-proxy egress mode."""
    def rule(value: Any) -> Pairs:
        pairs: Pairs = [(new, value)]
        if new == "proxy.egress.proxy_url" and isinstance(value, str) and value.strip():
            pairs.append((_PROXY_MODE, "single_proxy"))
        return pairs
    return rule


def _clearance(value: Any) -> Pairs:
    text = "".join(str(value).split())
    return [(CF_COOKIES_KEY, fold_cf_clearance("", text))] if text else []


def _hours(new: str) -> Callable[[Any], Pairs]:
    return lambda v: [(new, int(float(v) * 3600))]


def _ms(new: str) -> Callable[[Any], Pairs]:
    return lambda v: [(new, int(float(v) * 1000))]


def _image_format(value: Any) -> Pairs:
    word = str(value).strip().lower()
    return [("features.image_format",
             {"url": "local_url", "base64": "base64", "b64_json": "base64"}.get(word, word))]


def _video_format(value: Any) -> Pairs:
    word = str(value).strip().lower()
    return [("features.video_format", {"url": "local_url", "html": "local_html"}.get(word, word))]


def _not_memory(value: Any) -> Pairs:
    return [("features.memory", not _truthy(value))]


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _both_caches(value: Any) -> Pairs:
    return [("cache.local.image_max_mb", int(value)), ("cache.local.video_max_mb", int(value))]


def _admin_password(value: Any) -> Pairs:
    if str(value) == _OLD_ADMIN_DEFAULT:
        return []  # the old default is no secret: today's first-run setup asks for one
    return [("app.app_key", value)]


def _csv(new: str) -> Callable[[Any], Pairs]:
    return lambda v: [(new, split_list(v))]


_FEATURES = ("temporary", "stream", "thinking", "dynamic_statsig", "filter_tags",
             "video_poster_preview")
_DROP_UNREAD = "nothing in this version reads it"

#: Older key → rule. Today's own keys are not listed: they map to themselves.
RULES: dict[str, Rule] = {
    # v1.x [app] and the fork's extras
    **{f"app.{k}": _to(f"features.{k}") for k in _FEATURES},
    "app.image_format": _image_format,
    "app.video_format": _video_format,
    "app.disable_memory": _not_memory,
    "app.admin_username": "one admin secret (app.app_key), no user name",
    # v1.x [proxy]
    "proxy.base_proxy_url": _proxy("proxy.egress.proxy_url"),
    "proxy.asset_proxy_url": _proxy("proxy.egress.resource_proxy_url"),
    # v1.x [chat], [video], [image], [voice]
    "chat.stream_timeout": _to("chat.timeout"),
    "chat.concurrent": "per-account concurrency is account.selection.max_inflight",
    "video.concurrent": "per-account concurrency is account.selection.max_inflight",
    "video.timeout": "a video segment uses the chat.* timeouts",
    "video.stream_timeout": "a video segment uses the chat.* timeouts",
    "image.timeout": "image generation uses the chat.* timeouts",
    "image.stream_timeout": "image generation uses the chat.* timeouts",
    "image.final_timeout": _DROP_UNREAD,
    "image.medium_min_bytes": _DROP_UNREAD,
    "image.final_min_bytes": _DROP_UNREAD,
    "image.nsfw": _to("features.enable_nsfw"),
    "voice.timeout": "voice is not served by this version",
    # v1.x [retry]
    "retry.max_retry": _to("retry.max_retries"),
    "retry.retry_backoff_base": _ms("retry.backoff_base_ms"),
    "retry.retry_backoff_max": _ms("retry.backoff_max_ms"),
    "retry.retry_backoff_factor": "the backoff doubles; only its base and cap are settings",
    "retry.retry_budget": "a request is bounded by retry.max_retries and chat.total_timeout",
    # v1.x [token]
    "token.auto_refresh": _to("account.refresh.enabled"),
    "token.refresh_interval_hours": _hours("account.refresh.basic_interval_sec"),
    "token.super_refresh_interval_hours": _hours("account.refresh.super_interval_sec"),
    "token.fail_threshold": "consecutive failures are judged per failure kind (FAIL-1)",
    "token.usage_flush_interval_sec": "usage is written behind every few seconds",
    "token.reload_interval_sec": "set ACCOUNT_SYNC_INTERVAL in the environment",
    "token.nsfw_refresh_retries": _DROP_UNREAD,
    # v1.x [cache], the fork's
    "cache.limit_mb": _both_caches,
    "cache.enable_auto_clean": "the cache always evicts the oldest files beyond its limits",
    "cache.keep_base64_cache": _DROP_UNREAD,
    # v1.x [asset], [nsfw], [usage]
    "asset.upload_concurrent": _to("batch.asset_upload_concurrency"),
    "asset.list_concurrent": _to("batch.assets_concurrency"),
    "asset.delete_concurrent": _to("batch.assets_concurrency"),
    "nsfw.concurrent": _to("batch.nsfw_concurrency"),
    "usage.concurrent": _to("account.refresh.usage_concurrency"),
    # fork and v0 [grok]
    **{f"grok.{k}": _to(f"features.{k}") for k in _FEATURES},
    "grok.timeout": _to("chat.timeout"),
    "grok.base_proxy_url": _proxy("proxy.egress.proxy_url"),
    "grok.asset_proxy_url": _proxy("proxy.egress.resource_proxy_url"),
    "grok.proxy_url": _proxy("proxy.egress.proxy_url"),
    "grok.cache_proxy_url": _proxy("proxy.egress.resource_proxy_url"),
    "grok.cf_clearance": _clearance,
    "grok.max_retry": _to("retry.max_retries"),
    "grok.retry_status_codes": _to("retry.on_codes"),
    "grok.image_generation_method": "the model decides how an image is made",
    "grok.api_key": _to("app.api_key"),
    "grok.show_thinking": _to("features.thinking"),
    "grok.filtered_tags": _csv("features.filter_tags"),
    "grok.stream_chunk_timeout": _to("chat.timeout"),
    "grok.stream_first_response_timeout": _to("chat.first_byte_timeout"),
    "grok.stream_total_timeout": _to("chat.total_timeout"),
    "grok.x_statsig_id": _to("upstream.statsig_id"),
    # v0 [global]
    "global.base_url": _to("app.app_url"),
    "global.admin_username": "one admin secret (app.app_key), no user name",
    "global.admin_password": _admin_password,
    "global.image_mode": _image_format,
    "global.log_level": "set LOG_LEVEL in the environment",
    "global.image_cache_max_size_mb": _to("cache.local.image_max_mb"),
    "global.video_cache_max_size_mb": _to("cache.local.video_max_mb"),
    # the v1.x flat proxy keys still read today under their target's name
    "proxy.cf_clearance": _clearance,
    "proxy.clearance.cf_clearance": _clearance,
    **{old: _to(rule.target) for old, rule in LEGACY.items()},
}
#: Whole sections that are gone, with the reason.
_DROPPED_SECTIONS: dict[str, str] = {
    "register.": "automatic account registration is not built (decision D-9)",
    "performance.": "concurrency is set per operation (batch.*, cache.local.*)",
    "imagine_fast.": "the model was removed upstream",
    "account.storage": "storage is chosen at startup (DATABASE_URL), not in config.toml",
    "account.local": "storage is chosen at startup (DATABASE_URL), not in config.toml",
    "account.redis": "storage is chosen at startup (DATABASE_URL), not in config.toml",
    "account.mysql": "storage is chosen at startup (DATABASE_URL), not in config.toml",
    "account.postgresql": "storage is chosen at startup (DATABASE_URL), not in config.toml",
}


def rule_for(key: str, declared: Collection[str]) -> Rule:
    """The rule of one older (or current) key."""
    if key in declared:
        return _to(key)
    rule = RULES.get(key)
    if rule is not None:
        return rule
    for prefix, reason in _DROPPED_SECTIONS.items():
        if key.startswith(prefix):
            return reason
    return _DROP_UNREAD


def map_config(flat: Mapping[str, Any], declared: Mapping[str, Any]) -> ConfigMapping:
    """Every key of a flattened older config → mapped or dropped. `declared` maps today's
    keys to their declarations (`Option`, whose `parse` checks a converted value); a value
    that fails the check is dropped with the check's message. Two older keys that both set
    the Cloudflare cookies are folded into one cookie string."""
    out = ConfigMapping()
    seen: dict[str, int] = {}
    for key in sorted(flat):
        rule = rule_for(key, declared)
        if isinstance(rule, str):
            out.dropped.append(Dropped(key, rule))
            continue
        try:
            pairs = rule(flat[key])
        except (TypeError, ValueError) as exc:
            out.dropped.append(Dropped(key, f"value not understood ({exc})"))
            continue
        if not pairs:
            out.dropped.append(Dropped(key, "the older default; nothing to carry over"))
        for new, value in pairs:
            option = declared.get(new)
            if option is None:
                out.dropped.append(Dropped(key, _DROP_UNREAD))
                continue
            try:
                option.parse(value)
            except ValueError as exc:
                out.dropped.append(Dropped(key, str(exc)))
                continue
            if new in seen and new == CF_COOKIES_KEY:
                prev = out.mapped[seen[new]]
                merged = _merge_cookies(prev.value, value)
                out.mapped[seen[new]] = Mapped(prev.old, new, merged)
                out.mapped.append(Mapped(key, new, merged))
                continue
            seen.setdefault(new, len(out.mapped))
            out.mapped.append(Mapped(key, new, value))
    return out


def _merge_cookies(a: str, b: str) -> str:
    clearance = next((p.split("=", 1)[1] for p in b.split(";")
                      if p.strip().startswith("cf_clearance=")), "")
    return fold_cf_clearance(a, clearance) if clearance else a or b


def map_grok_section(flat: Mapping[str, Any], declared: Mapping[str, Any]
                     ) -> tuple[dict[str, Any], list[Mapped], list[Dropped]]:
    """`flat` (a flattened `config.toml`) with its `grok.*` keys read as today's: each mapped
    key is added unless the file also sets the new key itself, which wins. Returns the new
    flat dict, what was mapped and what was dropped (the warnings to log)."""
    old = {k: v for k, v in flat.items() if k.startswith("grok.")}
    if not old:
        return dict(flat), [], []
    rest = {k: v for k, v in flat.items() if not k.startswith("grok.")}
    mapping = map_config(old, declared)
    for item in mapping.mapped:
        rest.setdefault(item.new, item.value)
    return rest, mapping.mapped, mapping.dropped
