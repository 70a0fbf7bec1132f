"""Builds the grok.com chat request: the flattened prompt once, headers and payload per attempt
(the cookie and the anti-bot header belong to the leased account and change with it)."""
from __future__ import annotations

from typing import Any

from addons.errors import validation
from addons.flow import Flow, UpstreamRequest
from addons.tools.prompt import with_tool_block
from addons.upstream.chat_payload import build_chat_payload
from addons.upstream.config import UpstreamConfig
from addons.upstream.headers import build_headers
from addons.upstream.prompt import flatten

CHAT_PATH = "/rest/app-chat/conversations/new"
#: flow.metadata key: the file ids uploaded to the leased account for this attempt
#: (set by the attachments addon, which runs before this one), put into `fileAttachments`.
FILE_IDS = "upstream.file_ids"
#: grok.com checks Origin/Referer against its own site, whatever base URL we reach it through.
ORIGIN = "https://grok.com"


class UpstreamRequestBuilder:
    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._cfg: tuple[int, UpstreamConfig] | None = None

    def config(self) -> UpstreamConfig:
        """The upstream config, rebuilt only when the settings changed (not per attempt)."""
        generation = getattr(self.settings, "generation", None)
        cached = self._cfg
        if cached is None or generation is None or cached[0] != generation:
            cached = self._cfg = (generation, UpstreamConfig.from_settings(self.settings))
        return cached[1]

    def request(self, flow: Flow) -> None:
        flow.prompt = flatten(flow.request.messages)
        if not flow.prompt.strip():
            raise validation("Empty message after extraction: send at least one text part", "messages")
        flow.prompt = with_tool_block(flow.prompt, flow.request)

    def attempt(self, flow: Flow) -> None:
        cfg = self.config()
        headers = build_headers(cfg, flow.lease.token, origin=ORIGIN, referer=ORIGIN + "/")
        payload = build_chat_payload(cfg, flow.prompt, flow.mode,
                                     file_ids=flow.metadata.get(FILE_IDS, ()))
        flow.upstream = UpstreamRequest("POST", cfg.base_url + CHAT_PATH, headers, payload)
