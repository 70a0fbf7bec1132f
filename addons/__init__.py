"""The addon chain. The order of the addons is written here and nowhere else.

Request-side hooks run in list order: auth → models → accounts → retry → upstream request →
continuation (which edits the upstream request per attempt).
Stream transforms (`chunk`/`flush`) also run in list order, so upstream events reach usage
first, then the tool sieve, then citations (which render `<grok:render>` cards), then the tag
filter, and stop sequences last: they match the text exactly as the dialect renders it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from addons.services.catalogue import Catalogue
    from addons.chain import Chain


def build_chain(*, settings: Any, pool: Any, catalogue: "Catalogue", ledger: Any | None,
                continuations: Any | None = None) -> "Chain":
    # imported here so that importing one addon module does not import every addon
    from addons.accounts import AccountSelector
    from addons.attachments import Attachments
    from addons.auth import Auth
    from addons.chain import Chain
    from addons.citations import Citations
    from addons.continuation import Continuation
    from addons.model_resolver import ModelResolver
    from addons.retry import Retry
    from addons.stop_sequences import StopSequences
    from addons.tag_filter import TagFilter
    from addons.tools.sieve import ToolSieve
    from addons.upstream_request import UpstreamRequestBuilder
    from addons.usage import UsageCounter

    return Chain([
        Auth(settings),
        ModelResolver(catalogue),
        AccountSelector(pool, settings),
        Retry(pool, settings),
        Attachments(settings),
        UpstreamRequestBuilder(settings),
        Continuation(pool, continuations),
        UsageCounter(ledger),
        ToolSieve(),
        Citations(settings),
        TagFilter(settings),
        StopSequences(),
    ])
