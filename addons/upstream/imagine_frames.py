"""The imagine WebSocket's frames (docs/upstream.md, "The imagine WebSocket"): the request the
gateway sends for one round, and `ImagineRound`, which reads the server's frames of one round
into neutral events. Pure: no I/O, so the stage rules are unit-tested on their own.

Stages. A slot (one image) opens with a `json` frame `current_status: start_stage` and its
`image_id`; `image` frames then carry growing versions of it (the UUID in the URL path names
the slot), each a base64 `blob` with a `percentage_complete`; a `json` frame `completed` closes
it with `moderated` / `r_rated`. A blob whose `percentage_complete` is below 100 is a preview
or a medium: it is only ever progress (`MediaProgress.preview`), never a result. A slot's
result is its last full blob (100, or no percentage at all), delivered once its `completed`
frame said it was not withheld; a `completed` frame may also carry the `url` / `blob` itself.
Moderated slots, and R-rated ones unless the request enabled NSFW, are withheld
(`MediaModerated`). When the socket closes or the round times out, a slot that already has a
full blob and was not withheld is delivered as it is (best effort); a slot with only a preview
gives nothing.

Results are numbered from `first_index` in the order they are delivered, so a request's
images are 0…n-1 whatever slots were withheld; progress carries the index the slot would get
if every unresolved slot before it were delivered. A blob already delivered for this request
(same bytes, or the same URL when no bytes came) is a duplicate: it is not delivered again.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from addons.events import Event, MediaModerated, MediaProgress, MediaResult, UpstreamFailure

#: Images grok.com makes per round: speed mode, quality (pro) mode.
SPEED_ROUND, PRO_ROUND = 6, 4
#: grok.com's own aspect ratio, when a request names none it knows
DEFAULT_RATIO = "2:3"
_IMAGE_ID = re.compile(r"/images/([0-9A-Za-z-]+)\.(?:png|jpe?g|webp)", re.I)
_RATE_LIMIT_CODES = frozenset({"rate_limit_exceeded", "rate_limited", "too_many_requests"})


def request_frames(prompt: str, *, aspect_ratio: str, enable_nsfw: bool, enable_pro: bool,
                   count: int) -> list[dict[str, Any]]:
    """The reset, then the request of one round (`num_generations` = `count`)."""
    now = int(time.time() * 1000)
    reset = {"type": "conversation.item.create", "timestamp": now,
             "item": {"type": "message", "content": [{"type": "reset"}]}}
    ask = {"type": "conversation.item.create", "timestamp": now + 1,
           "item": {"type": "message", "content": [{
               "requestId": str(uuid.uuid4()),
               "text": prompt,
               "type": "input_text",
               "properties": {
                   "section_count": 0,
                   "is_kids_mode": False,
                   "enable_nsfw": enable_nsfw,
                   "skip_upsampler": False,
                   "enable_side_by_side": True,
                   "is_initial": False,
                   "aspect_ratio": aspect_ratio,
                   "enable_pro": enable_pro,
                   "num_generations": count,
               }}]}}
    return [reset, ask]


def media_key(result: MediaResult) -> str:
    """What tells two results apart: a hash of the bytes, else the URL."""
    if result.blob is not None:
        return "sha256:" + hashlib.sha256(result.blob).hexdigest()
    return "url:" + result.url


def error_failure(frame: dict[str, Any]) -> UpstreamFailure:
    """An `error` frame as the try's failure: a rate limit is a 429 (it cools the account's
    mode as a chat 429 does), anything else a 502."""
    code = str(frame.get("err_code") or "error")
    message = str(frame.get("err_msg") or code)
    status = 429 if code.lower() in _RATE_LIMIT_CODES or "rate limit" in message.lower() else 502
    return UpstreamFailure(status, f"imagine error {code}: {message}"[:300],
                           body=f'{{"error":{{"code":"{code}"}}}}')


@dataclass(slots=True)
class _Slot:
    key: str
    order: int
    url: str = ""  # of the last full version, or given by the `completed` frame
    blob: str = ""  # base64 of the last full version
    completed: bool = False
    withheld: bool = False
    resolved: bool = False  # delivered, withheld or a duplicate: nothing more comes of it


def _b64(value: Any) -> bytes | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        return None


class ImagineRound:
    """One round's frames → events. `wanted` results at most, numbered from `first_index`;
    `seen` holds the keys (`media_key`) already delivered for the request and is updated."""

    def __init__(self, wanted: int, first_index: int, seen: set[str], *, nsfw: bool,
                 expected: int | None = None) -> None:
        self.wanted = wanted
        self.first_index = first_index
        self.seen = seen
        self.nsfw = nsfw
        #: slots asked for; the round is over once that many completed and are resolved
        self.expected = expected if expected is not None else wanted
        self.delivered = 0
        self.withheld = 0
        self.failure: UpstreamFailure | None = None
        self._slots: dict[str, _Slot] = {}

    # ---- state -----------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        return bool(self._slots)

    @property
    def done(self) -> bool:
        """Enough results, an error, or every slot asked for completed and resolved."""
        if self.failure is not None or self.delivered >= self.wanted:
            return True
        completed = sum(s.completed for s in self._slots.values())
        return completed >= self.expected and self.settled

    @property
    def finished(self) -> bool:
        """Every slot that opened completed: nothing more of this round is on its way."""
        return self.started and all(s.completed for s in self._slots.values())

    @property
    def settled(self) -> bool:
        """Every known slot completed and resolved (more slots may still open)."""
        return self.started and all(s.completed and s.resolved for s in self._slots.values())

    # ---- frames ------------------------------------------------------------------------------
    def feed(self, frame: Any) -> list[Event]:
        out: list[Event] = []
        if not isinstance(frame, dict) or self.done:
            return out
        kind = frame.get("type")
        if kind == "error":
            self.failure = error_failure(frame)
        elif kind == "image":
            self._image(frame, out)
        elif kind == "json":
            status = frame.get("current_status")
            if status == "start_stage":
                self._slot(frame)
            elif status == "completed":
                self._completed(frame, out)
        return out

    def close(self) -> list[Event]:
        """The socket closed or the round timed out: deliver every full, not withheld slot."""
        out: list[Event] = []
        for slot in self._ordered():
            if not slot.resolved and not slot.withheld and (slot.blob or slot.url):
                self._deliver(slot, out)
        return out

    # ---- internals ---------------------------------------------------------------------------
    def _ordered(self) -> list[_Slot]:
        return sorted(self._slots.values(), key=lambda s: s.order)

    def _slot(self, frame: dict[str, Any], url: str = "") -> _Slot:
        key = frame.get("image_id") or frame.get("job_id")
        if not key and url:
            found = _IMAGE_ID.search(url)
            key = found.group(1) if found else url
        key = str(key or f"slot-{len(self._slots)}")
        slot = self._slots.get(key)
        if slot is None:
            order = next((frame[k] for k in ("order", "side_by_side_index", "grid_index")
                          if type(frame.get(k)) is int), len(self._slots))
            slot = self._slots[key] = _Slot(key, order)
        return slot

    def _index(self, slot: _Slot) -> int:
        """The index `slot` gets if every unresolved slot before it is delivered."""
        ahead = sum(1 for s in self._slots.values()
                    if not s.resolved and s.order < slot.order and s is not slot)
        return self.first_index + self.delivered + ahead

    def _image(self, frame: dict[str, Any], out: list[Event]) -> None:
        url = frame.get("url") if isinstance(frame.get("url"), str) else ""
        slot = self._slot({}, url)
        if slot.resolved:
            return
        blob = frame.get("blob") if isinstance(frame.get("blob"), str) else ""
        pct = frame.get("percentage_complete")
        if isinstance(pct, (int, float)) and not isinstance(pct, bool) and pct < 100:
            out.append(MediaProgress("image", self._index(slot), max(1, min(99, int(pct))),
                                     blob or None))
            return
        # a full version: its URL names the final file (a preview's URL is never kept)
        if url:
            slot.url = url
        if blob:
            slot.blob = blob
        if slot.completed and not slot.withheld:
            self._deliver(slot, out)

    def _completed(self, frame: dict[str, Any], out: list[Event]) -> None:
        slot = self._slot(frame)
        if slot.completed:
            return
        slot.completed = True
        if isinstance(frame.get("url"), str) and frame["url"]:
            slot.url = frame["url"]
        if isinstance(frame.get("blob"), str) and frame["blob"]:
            slot.blob = frame["blob"]
        if frame.get("moderated") is True or (frame.get("r_rated") is True and not self.nsfw):
            slot.withheld = slot.resolved = True
            self.withheld += 1
            out.append(MediaModerated("image", self._index(slot)))
            return
        if slot.blob or slot.url:
            self._deliver(slot, out)

    def _deliver(self, slot: _Slot, out: list[Event]) -> None:
        slot.resolved = True
        if self.delivered >= self.wanted:
            return
        data = _b64(slot.blob)
        if data is None and not slot.url:
            return
        result = MediaResult("image", self.first_index + self.delivered, slot.url, blob=data)
        key = media_key(result)
        if key in self.seen:
            return  # the same image again: never padded with duplicates
        self.seen.add(key)
        self.delivered += 1
        out.append(result)
