"""The chain's side of grok.com's edge refusals: an anti-bot refusal and a Cloudflare challenge
are answered by fixing what was refused, then trying the same account once more.

* an anti-bot refusal (`classify.ANTI_BOT`: JSON or in-band `code 7`, "Request rejected by
  anti-bot rules") refused the try's `x-statsig-id`: the flow's later tries send a freshly
  generated one (`flow.statsig_renewed`, read by the request builder), once per flow;
* a Cloudflare challenge (`classify.CHALLENGE`) refused the egress's clearance: the clearance
  service (`addons/services/clearance.py`) solves a new one for the egress the try went
  through, in mode `flaresolverr`, or tells the operator, in the other modes.

When something was fixed, `attempt.remedy` says what, and the retry addon tries the same
account again, free: the account did nothing wrong, and the failure does not count for the
circuit breaker either (it would open on refusals this already cured). A second refusal of the
same kind in the flow is an ordinary failure of its kind, counted by the breaker as a
challenge. Runs before the breaker, which reads `attempt.remedy`, and before retry.
"""
from __future__ import annotations

from typing import Any

from addons.flow import Flow
from addons.services.clearance import ClearanceService
from addons.upstream import classify as kinds

NAME = "clearance"
#: `attempt.remedy` values.
FRESH_STATSIG = "fresh x-statsig-id"
NEW_CLEARANCE = "new Cloudflare clearance"


class Clearance:
    def __init__(self, settings: Any, service: ClearanceService | None = None) -> None:
        self.settings = settings
        #: The process's clearances (applied by the transport, shown in the admin API).
        self.service = service or ClearanceService(settings)

    def attempt(self, flow: Flow) -> None:
        self.service.sync()

    async def responseheaders(self, flow: Flow) -> None:
        attempt = flow.attempt
        failure = attempt.failure
        if failure is None:
            return
        kind = kinds.failure_kind(failure)
        if kind == kinds.ANTI_BOT:
            if not flow.statsig_renewed:
                flow.statsig_renewed = True
                attempt.remedy = FRESH_STATSIG
            return
        if kind != kinds.CHALLENGE or flow.metadata.get(NAME):
            return
        via = attempt.request.via if attempt.request is not None else None
        if via is None:  # refused before the transport sent it (an upload): no egress known
            return
        flow.metadata[NAME] = True  # one clearance remedy per flow
        if await self.service.on_challenge(via):
            attempt.remedy = NEW_CLEARANCE
