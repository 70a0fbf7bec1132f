"""Generated media in a chat answer: the media events of a flow become the text events the
chat dialects already render.

`MediaAsChat` stands in for the pipeline in front of a dialect renderer (same `events` /
`close`). For an image or video model, progress becomes reasoning lines
(`Image generating 40% (0/2)`, `Video generating 37%`) and each result becomes content
(joined by a blank line). For a chat model that drew images, the images follow its text,
one per line, just before the end. A result is shown in the request's `response_format` or
`features.image_format` / `video_format` (`MediaOutput.chat_text`); a batch without media
passes through untouched.
"""
from __future__ import annotations

from typing import Any, AsyncIterator

from addons.errors import ApiError
from addons.events import (
    End, Event, MediaModerated, MediaProgress, MediaResult, ReasoningDelta, Restart, TextDelta,
)
from addons.flow import Flow
from addons.services.media_cache import MediaFetchError
from addons.services.media_output import MediaOutput

_MEDIA = (MediaProgress, MediaResult, MediaModerated)


class MediaAsChat:
    def __init__(self, pipeline: Any, output: MediaOutput, base: str) -> None:
        self.pipeline = pipeline
        self.output = output
        self.base = base

    async def close(self, flow: Flow) -> None:
        await self.pipeline.close(flow)

    async def events(self, flow: Flow) -> AsyncIterator[list[Event]]:
        req = flow.request
        media_job = req.kind != "chat"
        chosen = req.options.get("response_format")  # the request's own, images only
        total = getattr(req, "n", 1)
        done = 0
        last_line = ""
        pending: list[str] = []  # a chat model's images, shown after its text
        async for batch in self.pipeline.events(flow):
            if not pending and not any(isinstance(ev, _MEDIA) for ev in batch):
                yield batch
                continue
            out: list[Event] = []
            for ev in batch:
                cls = type(ev)
                if cls is MediaProgress:
                    if not media_job:
                        continue
                    line = (f"Image generating {ev.progress}% ({done}/{total})\n"
                            if ev.kind == "image" else f"Video generating {ev.progress}%\n")
                    if line != last_line:
                        last_line = line
                        out.append(ReasoningDelta(line))
                elif cls is MediaResult:
                    text = await self._text(flow, ev, chosen)
                    if media_job:
                        out.append(TextDelta(("\n\n" if done else "") + text))
                    else:
                        pending.append(text)
                    done += 1
                elif cls is MediaModerated:
                    continue
                elif cls is Restart:
                    done, last_line, pending = 0, "", []
                    out.append(ev)
                elif cls is End and pending:
                    out.append(TextDelta("\n" + "\n".join(pending) + "\n"))
                    pending = []
                    out.append(ev)
                else:
                    out.append(ev)
            if out:
                yield out

    async def _text(self, flow: Flow, result: MediaResult, chosen: str | None) -> str:
        fmt = self.output.chat_format(result.kind, chosen)
        try:
            return await self.output.chat_text(result, flow.lease.token, self.base, fmt)
        except MediaFetchError as exc:
            raise ApiError(502, f"The generated {result.kind} could not be retrieved from "
                           f"grok.com", type="upstream_error", code="media_unavailable") from exc


def media_as_chat(svc: Any, flow: Flow) -> MediaAsChat:
    """The pipeline as a chat dialect reads it: generated media (a media model's, or images
    a chat model drew) as chat text, with links on this request's public origin."""
    output = svc.media_output
    return MediaAsChat(svc.pipeline, output, output.base(flow.client_headers))
