"""The addon chain. The order of the addons is written here and nowhere else.

Request-side hooks (`requestheaders`, `request`, `attempt`, `responseheaders`, `response`,
`error`) run in list order; `finish` in reverse. What must come before what, and why:

- auth first: nothing else runs for a client that is not let in;
- metrics right after auth, before keys: it counts every admitted request in flight (one
  the keys addon refuses too), and its `finish` (reverse order) runs after every other,
  once usage and the outcome are settled; it decides nothing;
- keys (a managed key's policy) right after auth and before model resolution: a model
  outside the key's allow-list gets the same 404 whether it exists or not; its limits are
  judged in its `attempt` hook, before the clearance, breaker and accounts ones, so a refused
  request leases no account; its `finish` runs after theirs (reverse order) and reads the
  usage the stream tally set;
- model resolution before accounts: the model names the pools and the quota mode;
- the clearance addon before the breaker and retry: it answers an anti-bot refusal or a
  Cloudflare challenge (a fresh statsig, a new clearance) and says so in `attempt.remedy`,
  which the breaker reads to leave a cured refusal uncounted and retry to try the same
  account again;
- the breaker before accounts: a try it refuses (grok.com failing for everyone) leases no
  account; and before retry: retry reads its verdict (`attempt.upstream_wide`) to leave the
  account alone when the failure was grok.com's or the egress's as a whole;
- accounts before retry: retry feeds the outcome of a try back to the account just leased;
- accounts before attachments, image-edit inputs, continuation and video posts: an upload, a
  media post and a continued conversation belong to the leased account;
- attachments, image-edit inputs, continuation and video posts before the request builder:
  it reads `attempt.file_ids`, `attempt.edit`, `attempt.continued`, `attempt.parent_post_id`
  and `attempt.media_refs` to write the payload;
- the request recorder after the usage counter: its `finish` (reverse order) runs first and
  reads `flow.usage` and the last lease, which stays readable after the release.

No addon rewrites what another decided: retry alone decides on a retry (it reads
`attempt.continued` for a failed continuation), the builder alone writes the payload, the
breaker alone refuses a try for grok.com's sake.

Stream transforms (`transform`) also run in list order, so upstream events reach the
breaker's probe watch first (it only looks), then the stale-media check (a stale file fails
the try before anything else sees it), then the continuation's id notes and usage first (raw text), then the request recorder's
answer capture (raw text; only with `audit.store_content`), then the tool sieve, then citations
(which render `<grok:render>` cards), then the tag filter (which removes what citations did
not render), and stop sequences last: they match the text exactly as the dialect renders it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from addons.chain import Chain
    from addons.services.catalogue import Catalogue


def build_chain(*, settings: Any, pool: Any, catalogue: "Catalogue", ledger: Any | None,
                continuations: Any | None = None, keys: Any | None = None) -> "Chain":
    """`ledger`: where the request recorder puts each finished request
    (`state.usage_book.UsageBook`); None records nothing. `keys`: the managed client keys
    (`state.keys_service.KeyService`); None when there are none to check."""
    # imported here so that importing one addon module does not import every addon
    from addons.accounts import AccountSelector
    from addons.attachments import Attachments
    from addons.audit import RequestRecorder
    from addons.auth import Auth
    from addons.breaker import Breaker
    from addons.chain import Chain
    from addons.citations import Citations
    from addons.clearance import Clearance
    from addons.continuation import Continuation
    from addons.image_edit_inputs import ImageEditInputs
    from addons.keys import Keys
    from addons.metrics import Metrics
    from addons.model_resolver import ModelResolver
    from addons.retry import Retry
    from addons.stale_media import StaleMedia
    from addons.stop_sequences import StopSequences
    from addons.tag_filter import TagFilter
    from addons.tools.sieve import ToolSieve
    from addons.upstream_request import UpstreamRequestBuilder
    from addons.usage import UsageCounter
    from addons.video_posts import VideoPosts

    return Chain([
        Auth(settings, keys),
        Metrics(),
        Keys(keys, catalogue),
        ModelResolver(catalogue),
        Clearance(settings),
        Breaker(settings, pool),
        AccountSelector(pool, settings),
        Retry(pool, settings),
        Attachments(settings),
        ImageEditInputs(settings),
        Continuation(pool, continuations),
        VideoPosts(settings),
        UpstreamRequestBuilder(settings),
        StaleMedia(settings),
        UsageCounter(),
        RequestRecorder(settings, ledger),
        ToolSieve(),
        Citations(settings),
        TagFilter(settings),
        StopSequences(),
    ])
