"""The one list of every component that declares settings.

Each entry names a module, or a class in it (`module:Class`), with a `load(loader)` function
that declares the options the component reads. The settings, `grok2api config`, the generated
docs/configuration.md and the tests all enumerate options from here, without starting the app.

The entries are strings imported on first use, so importing `state` pulls in no layer above it
and does no work at import time. A component that starts reading a new setting adds an
`add_option` call to its `load`; a new component that reads settings is added here.
"""
from __future__ import annotations

import importlib
from functools import cache
from types import MappingProxyType
from typing import Mapping

from state.options import Loader, Option

__all__ = ["DECLARERS", "declared_options", "load_all"]

DECLARERS: tuple[str, ...] = (
    "quart_app.app",
    "ops.serve",
    "quart_app.admin.auth",
    "quart_app.admin.throttle",
    "quart_app.admin.sessions",
    "quart_app.web.webui_auth",
    "quart_app.client_address",
    "quart_app.metrics",
    "ops.logs",
    "addons.services.links",
    "quart_app.dialects.common_request",
    "quart_app.services:Services",
    "addons.auth:Auth",
    "addons.services.catalogue:Catalogue",
    "addons.accounts:AccountSelector",
    "addons.retry:Retry",
    "addons.stale_media:StaleMedia",
    "addons.services.breaker:CircuitBreaker",
    "addons.services.clearance:ClearanceService",
    "addons.attachments:Attachments",
    "addons.image_edit_inputs:ImageEditInputs",
    "addons.upstream.config:UpstreamConfig",
    "addons.pipeline:Pipeline",
    "addons.citations:Citations",
    "addons.tag_filter:TagFilter",
    "addons.services.quota_refresh:QuotaRefresher",
    "addons.services.nsfw",
    "addons.services.online_assets",
    "addons.services.media_cache:MediaCache",
    "addons.services.media_output:MediaOutput",
    "addons.services.video_jobs:VideoJobs",
    "state.runtime:AccountState",
    "state.usage_book:UsageBook",
    "addons.audit:RequestRecorder",
    "state.keys_service:KeyService",
)


def load_all(declarers: tuple[str, ...] = DECLARERS) -> dict[str, Option]:
    """Run every declarer's `load` into one loader; a name declared twice is an error."""
    loader = Loader()
    for entry in declarers:
        module_name, _, attr = entry.partition(":")
        target = importlib.import_module(module_name)
        if attr:
            target = getattr(target, attr)
        target.load(loader)
    return loader.options


@cache
def declared_options() -> Mapping[str, Option]:
    """Every declared option by name (computed once per process)."""
    return MappingProxyType(load_all())
