"""grok.com NDJSON response stream → neutral events (docs/upstream.md, "The REST stream").

`FrameParser.feed(bytes)` buffers partial lines across chunks and decodes whole lines
only, so a JSON object or a multi-byte UTF-8 character split across chunks is fine.
Inline tags (`<grok:render>` …) are passed through untouched: the tag-filter addon
rewrites them downstream, possibly across several TextDeltas.

An answer is whole only once grok.com said so: the soft stop or `finalMetadata` (End at
once), a `modelResponse` (the assembled answer; frames after it may still add sources, so
End waits for the body's end) or a `data: [DONE]` line. A body that ends before any of them
is a truncation (`UPSTREAM_TRUNCATED`), however cleanly it ends.

Hot path: one `orjson.loads` per line and a handful of dict lookups per plain token frame,
inlined in `feed`; the tokens of one read leave as one TextDelta.
"""
from __future__ import annotations

from typing import Any

import orjson

from addons.events import (
    CardAttachment,
    ConversationStarted,
    End,
    Event,
    TRUNCATED_MESSAGE,
    UPSTREAM_TRUNCATED,
    FinalMessage,
    ResponseMeta,
    SearchSources,
    TextDelta,
    UpstreamFailure,
)
from addons.upstream.config import DEFAULT_ASSETS_URL
from addons.upstream.media_frames import MediaFrames
from addons.upstream.reasoning import ReasoningFormatter, tool_line

MAX_LINE_BYTES = 16 * 1024 * 1024
_RAW_LIMIT = 400
#: Keys of a plain answer-token frame; anything else takes the full path.
_PLAIN_KEYS = frozenset(
    {"token", "isThinking", "messageTag", "responseId", "rolloutId", "messageStepId"}
)


def failure_status(code: Any, message: str) -> int:
    """429 for rate/usage limits (gRPC 8 RESOURCE_EXHAUSTED), else 502."""
    low = message.lower()
    if code == 8 or "too many requests" in low or "rate limit" in low or "usage limit" in low \
            or "usage quota" in low:
        return 429
    return 502


def _error_message(err: Any) -> tuple[Any, str]:
    if isinstance(err, dict):
        msg = err.get("message") or err.get("error") or err.get("detail") or "upstream stream error"
        return err.get("code"), str(msg)
    return None, str(err)


def card_attachment(card: Any, out: list[Event]) -> None:
    """A card's `jsonData` (a JSON string or an object) as a CardAttachment, if it is one."""
    data = card.get("jsonData") if isinstance(card, dict) else None
    if isinstance(data, str):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
    if isinstance(data, dict):
        out.append(CardAttachment(data))


def add_web_sources(items: list[Any], seen: set[str], new: list[dict[str, str]]) -> None:
    """Web results with a URL not in `seen` → `new` (and `seen`)."""
    for item in items:
        url = item.get("url") if isinstance(item, dict) else None
        if url and isinstance(url, str) and url not in seen:
            seen.add(url)
            new.append({"url": url, "title": str(item.get("title") or url), "type": "web"})


def add_x_source(user: Any, post_id: Any, text: Any, seen: set[str],
                 new: list[dict[str, str]]) -> None:
    """One X post → `new` (and `seen`) unless its URL was seen."""
    url = f"https://x.com/{user}/status/{post_id}"
    if url in seen:
        return
    seen.add(url)
    text = " ".join(str(text or "").split())
    title = f"𝕏/@{user}: {text[:50]}{'...' if len(text) > 50 else ''}" if text \
        else f"𝕏/@{user}"
    new.append({"url": url, "title": title, "type": "x"})


class FrameParser:
    """Stateful parser for one upstream response. Not thread-safe; one per stream."""

    __slots__ = ("_buf", "_failed", "_ended", "_complete", "_reasoning", "_seen_urls",
                 "_response_id", "_media")

    def __init__(self, assets_url: str = DEFAULT_ASSETS_URL) -> None:
        self._buf = b""
        self._failed = False
        self._ended = False
        self._complete = False  # an end marker arrived (End may still wait for the body end)
        self._reasoning = ReasoningFormatter()
        self._seen_urls: set[str] = set()
        self._response_id: str | None = None
        #: generated images and videos (relative asset paths live on `assets_url`)
        self._media = MediaFrames(assets_url)

    @property
    def failed(self) -> bool:
        return self._failed

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def complete(self) -> bool:
        """The answer reached an end marker: whatever happens to the body now, it is whole."""
        return self._complete and not self._failed

    # ---- framing -----------------------------------------------------------------

    def feed(self, data: bytes) -> list[Event]:
        out: list[Event] = []
        if self._failed or not data:
            return out
        buf = self._buf + data if self._buf else data
        cut = buf.rfind(b"\n")
        if cut < 0:
            self._buf = buf
            if len(buf) > MAX_LINE_BYTES:
                self._fail(502, "upstream frame too large", buf, out)
            return out
        self._buf = buf[cut + 1:]
        # Plain answer tokens (the bulk of every stream) are recognised inline and gathered:
        # consecutive ones become one TextDelta. Any other line flushes them and takes `_line`.
        text: list[str] = []
        loads = orjson.loads
        for line in buf[:cut].split(b"\n"):
            if line[:1] == b"{":
                try:
                    obj = loads(line)
                except orjson.JSONDecodeError:
                    continue  # an unterminated object mid-stream is skipped, as `_line` does
                resp = obj.get("result") if type(obj) is dict and len(obj) == 1 else None
                if type(resp) is dict and len(resp) == 1:
                    resp = resp.get("response")
                    if type(resp) is dict and resp.get("messageTag") == "final" \
                            and resp.keys() <= _PLAIN_KEYS and not resp.get("isThinking"):
                        token = resp.get("token")
                        if token and type(token) is str:
                            rid = resp.get("responseId")
                            if rid and rid != self._response_id:
                                self._flush_text(text, out)
                                self._response_id = rid
                                out.append(ResponseMeta(response_id=rid))
                            self._reasoning.answer_started = True
                            text.append(token)
                            continue
                self._flush_text(text, out)
                if type(obj) is dict:
                    self._frame(obj, line, out)
            else:
                self._flush_text(text, out)
                self._line(line, out, final=False)
            if self._failed:
                break
        self._flush_text(text, out)
        return out

    @staticmethod
    def _flush_text(text: list[str], out: list[Event]) -> None:
        if text:
            out.append(TextDelta(text[0] if len(text) == 1 else "".join(text)))
            text.clear()

    def close(self) -> list[Event]:
        """End of body (or of the wait for it): parse a last unterminated line, then End if
        the answer reached an end marker, else a truncation failure. A line cut inside a JSON
        object is a truncation too, unless the answer was already whole."""
        out: list[Event] = []
        rest, self._buf = self._buf, b""
        if self._failed or self._ended:
            return out
        if rest.strip():
            self._line(rest, out, final=not self._complete)
        if self._failed or self._ended:
            return out
        if self._complete:
            self._end(out)
        else:
            self._fail(502, TRUNCATED_MESSAGE, b"", out, UPSTREAM_TRUNCATED)
        return out

    def _line(self, line: bytes, out: list[Event], final: bool) -> None:
        if not line or line[0] != 0x7B:  # not "{"
            line = line.strip()
            if not line:
                return
            if line[0] != 0x7B:
                if not line.startswith(b"data:"):
                    return  # event:, comments, junk
                line = line[5:].strip()
                if line == b"[DONE]":
                    self._end(out)
                    return
                if not line.startswith(b"{"):
                    return
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            if final:
                self._fail(502, "upstream stream ended inside a frame (truncated JSON)", line, out,
                           UPSTREAM_TRUNCATED)
            return
        if type(obj) is dict:
            self._frame(obj, line, out)

    # ---- frames ------------------------------------------------------------------

    def _frame(self, obj: dict[str, Any], line: bytes, out: list[Event]) -> None:
        err = obj.get("error")
        if err:
            code, msg = _error_message(err)
            self._fail(failure_status(code, msg), f"Upstream stream error: {msg}", line, out)
            return
        result = obj.get("result")
        if type(result) is not dict:
            return
        conv = result.get("conversation")
        if type(conv) is dict and conv.get("conversationId"):
            out.append(ConversationStarted(str(conv["conversationId"])))
        resp = result.get("response")
        if type(resp) is dict:
            self._response(resp, line, out)

    def _response(self, resp: dict[str, Any], line: bytes, out: list[Event]) -> None:
        token = resp.get("token")
        tag = resp.get("messageTag")
        rerr = resp.get("error")
        if rerr:
            code, msg = _error_message(rerr)
            self._fail(failure_status(code, msg), f"Upstream stream error: {msg}", line, out)
            return
        model = resp.get("modelResponse")
        if type(model) is dict and self._model_response(model, line, out):
            return
        user = resp.get("userResponse")
        if type(user) is dict and user.get("responseId"):
            out.append(ResponseMeta(parent_response_id=str(user["responseId"])))
        rid = resp.get("responseId")
        if rid and rid != self._response_id:
            self._response_id = rid
            out.append(ResponseMeta(response_id=str(rid)))

        card = resp.get("cardAttachment")
        if card:
            self._card(card, out)
        cards = resp.get("cardAttachments")
        if type(cards) is list:
            for item in cards:
                self._card(item, out)
        image = resp.get("streamingImageGenerationResponse")
        if type(image) is dict:
            self._media.image(image, out)
        video = resp.get("streamingVideoGenerationResponse")
        if type(video) is dict:
            self._media.video(video, out)
        if "webSearchResults" in resp or "xSearchResults" in resp:
            self._sources(resp, out)

        if tag == "tool_usage_card":
            text = tool_line(resp)
            if text:
                self._reasoning.line(text, resp.get("rolloutId"), out)
        elif tag == "raw_function_result":
            pass  # its search results were taken above
        elif token:
            if resp.get("isThinking"):
                self._reasoning.thinking(
                    str(token), tag, resp.get("rolloutId"), resp.get("messageStepId"), out
                )
            elif tag == "final":
                self._reasoning.answer_started = True
                out.append(TextDelta(token))

        if resp.get("isSoftStop") or resp.get("finalMetadata"):
            self._end(out)

    def _model_response(self, model: dict[str, Any], line: bytes, out: list[Event]) -> bool:
        """Emit ids and the final message; True when it carried stream errors."""
        errors = model.get("streamErrors")
        if errors:
            first = errors[0] if isinstance(errors, list) else errors
            code, msg = _error_message(first)
            self._fail(failure_status(code, msg), f"Upstream stream error: {msg}", line, out)
            return True
        rid, parent = model.get("responseId"), model.get("parentResponseId")
        if rid or parent:
            if rid:
                self._response_id = str(rid)
            out.append(ResponseMeta(str(rid) if rid else None, str(parent) if parent else None))
        if "webSearchResults" in model or "xSearchResults" in model:
            self._sources(model, out)
        images = model.get("generatedImageUrls")
        urls = [u for u in images if isinstance(u, str)] if isinstance(images, list) else []
        if urls:
            self._media.generated_urls(urls, out)
        message = model.get("message")
        if isinstance(message, str) or urls:
            # the list also names moderated slots: those are no answer
            out.append(FinalMessage(message if isinstance(message, str) else "",
                                    self._media.unmoderated(urls)))
        self._complete = True  # the assembled answer: grok.com has finished writing it
        return False

    def _card(self, card: Any, out: list[Event]) -> None:
        """A card as a CardAttachment; a generated image's card also as a media slot."""
        start = len(out)
        card_attachment(card, out)
        if len(out) > start:
            data = out[-1].card
            if "image_chunk" in data or "imageChunk" in data:
                self._media.card(data, out)

    def _sources(self, holder: dict[str, Any], out: list[Event]) -> None:
        new: list[dict[str, str]] = []
        seen = self._seen_urls
        web = holder.get("webSearchResults")
        if isinstance(web, dict) and isinstance(web.get("results"), list):
            add_web_sources(web["results"], seen, new)
        xs = holder.get("xSearchResults")
        if isinstance(xs, dict) and isinstance(xs.get("results"), list):
            for item in xs["results"]:
                if not isinstance(item, dict) or not item.get("postId") or not item.get("username"):
                    continue
                add_x_source(str(item["username"]), item["postId"], item.get("text"), seen, new)
        if new:
            out.append(SearchSources(new))

    # ---- terminal states ---------------------------------------------------------

    def _end(self, out: list[Event]) -> None:
        if not self._ended:
            self._ended = self._complete = True
            out.append(End())

    def _fail(self, status: int, message: str, line: bytes, out: list[Event],
              code: str = "") -> None:
        self._failed = True
        raw = line[: _RAW_LIMIT * 4].decode("utf-8", "replace")[:_RAW_LIMIT]
        out.append(UpstreamFailure(status, message, raw, code))
