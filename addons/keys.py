"""The policy of a managed client key, applied to its requests.

* `request` (before model resolution): a model outside the key's allow-list is a 404
  `model_not_found`, the same answer whether the model exists or not, so a key does not learn
  which models exist; the key's account scope and NSFW policy go on the flow.
* `attempt` (the first try only, before any account is leased): concurrency, requests per
  minute, the daily quota of the request's kind and the daily tokens, judged in memory
  (`state.keys_limits`); over a limit is a 429 `rate_limit_error` whose code names the limit,
  with `Retry-After`.
* `finish`: the open request ends (always), its tokens are counted, and a failed request's
  daily charges are given back.

Keys of `app.api_key` and open mode (`flow.client.id` None) are unlimited: nothing here runs
for them. A managed key without limits is still counted (its usage today is shown). A request hook that answers by itself (`flow.reply`) never reaches `attempt`, so it
costs no quota.
"""
from __future__ import annotations

from typing import Any

from addons.auth import invalid_key
from addons.errors import ApiError
from addons.flow import Flow
from state.keys_limits import Refusal

_ADMITTED = "keys.admission"


def not_found(model: str) -> ApiError:
    return ApiError(404, f"Model '{model}' does not exist or you do not have access to it.",
                    type="validation_error", code="model_not_found", param="model")


def model_allowed(models: tuple[str, ...], requested: str, catalogue: Any) -> bool:
    """The requested id, or the catalogue model it names (an alias), is on the list."""
    if not models or requested in models:
        return True
    spec = catalogue.resolve(requested) if catalogue is not None else None
    return spec is not None and spec.id in models


def charges(flow: Flow) -> dict[str, int]:
    """What one request costs per day: a chat 1 (a heavy-mode model also 1 heavy), an image
    job its number of images, a video 1."""
    job = flow.request
    kind = job.kind
    if kind == "chat":
        heavy = flow.model is not None and flow.model.mode == "heavy"
        return {"chat": 1, "heavy": 1} if heavy else {"chat": 1}
    if kind in ("image", "image_edit"):
        return {"image": max(1, int(getattr(job, "n", 1) or 1))}
    if kind == "video":
        return {"video": 1}
    return {}


class Keys:
    def __init__(self, keys: Any | None, catalogue: Any | None = None) -> None:
        self.keys = keys
        self.catalogue = catalogue

    def _record(self, flow: Flow) -> Any | None:
        client = flow.client
        if client is None or client.id is None or self.keys is None:
            return None
        record = self.keys.get(client.id)
        if record is None or not record.enabled:  # deleted or disabled since auth
            raise invalid_key()
        return record

    def request(self, flow: Flow) -> None:
        record = self._record(flow)
        if record is None:
            return
        policy = record.policy
        if not model_allowed(policy.models, flow.request.model, self.catalogue):
            raise not_found(flow.request.model)
        if policy.scope:
            flow.account_scope = policy.scope
        flow.nsfw_allowed = policy.nsfw

    def attempt(self, flow: Flow) -> None:
        if flow.attempt.number != 1 or _ADMITTED in flow.metadata:
            return
        record = self._record(flow)
        if record is None:
            return
        verdict = self.keys.admit(record, charges(flow))
        if isinstance(verdict, Refusal):
            raise ApiError(429, verdict.message, type="rate_limit_error", code=verdict.code,
                           retry_after=verdict.retry_after)
        flow.metadata[_ADMITTED] = verdict

    def finish(self, flow: Flow) -> None:
        admission = flow.metadata.pop(_ADMITTED, None)
        if admission is not None:
            self.keys.settle(admission, flow.usage.total_tokens, failed=flow.error is not None)
