"""Same media, different prompt: a generated file an account already returned for another
prompt a short while ago is a stale or fallback answer of grok.com, not a result.

The transform looks at each `MediaResult` of an image job, known by a hash of its bytes (the
imagine socket sends them inline) and by its URL. When the same account gave the same bytes
or the same URL for a different prompt within `image.stale_window_sec`, the
result is answered with an `UpstreamFailure` (`STALE_MEDIA`): the try fails before the file
reaches the client, the retry addon notes it on the account (`last_fail_reason`, shown by
the admin listing) and fails over to another account. What each account returned is kept in
memory, per process, for the window (at most `MAX_REMEMBERED` entries, oldest dropped).
"""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from addons.events import STALE_MEDIA, Event, MediaResult, UpstreamFailure
from addons.flow import Flow
from addons.upstream.imagine_frames import media_key
from state.options import Loader

#: the job kinds whose results are checked (a prompt makes them)
KINDS = frozenset({"image", "image_edit"})
MAX_REMEMBERED = 20_000


class StaleMedia:
    @staticmethod
    def load(loader: Loader) -> None:
        loader.add_option("image.stale_window_sec", float, 600.0,
                          "An account that returns the same image for two different prompts "
                          "within this many seconds has answered with a stale result: the "
                          "second request fails over to another account. 0 turns the check "
                          "off.")

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        #: (account token, media key) → (prompt, when), oldest first
        self._seen: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()

    def transform(self, flow: Flow) -> "StaleCheck | None":
        window = self.settings.options.image.stale_window_sec
        if flow.request.kind not in KINDS or window <= 0 or flow.lease is None:
            return None
        return StaleCheck(self, flow.lease.token, flow.prompt or flow.request.prompt, window)

    def stale(self, token: str, keys: list[str], prompt: str, window: float) -> bool:
        """True when `token` returned one of `keys` for another prompt within `window`
        seconds; otherwise remembers them for this prompt."""
        now = time.monotonic()
        for key in keys:
            entry = self._seen.get((token, key))
            if entry is not None and entry[0] != prompt and now - entry[1] <= window:
                return True
        for key in keys:
            self._seen[(token, key)] = (prompt, now)
            self._seen.move_to_end((token, key))
        while len(self._seen) > MAX_REMEMBERED:
            self._seen.popitem(last=False)
        return False


class StaleCheck:
    """One try's check."""

    __slots__ = ("owner", "token", "prompt", "window")

    def __init__(self, owner: StaleMedia, token: str, prompt: str, window: float) -> None:
        self.owner, self.token, self.prompt, self.window = owner, token, prompt, window

    def chunk(self, event: Event) -> list[Event]:
        if type(event) is MediaResult and self.owner.stale(self.token, _keys(event),
                                                           self.prompt, self.window):
            return [UpstreamFailure(502, "the account returned the same image as for another "
                                    "prompt (stale result)", code=STALE_MEDIA)]
        return [event]


def _keys(result: MediaResult) -> list[str]:
    """The bytes' hash (when inline) and the URL."""
    key = media_key(result)
    return [key, "url:" + result.url] if result.blob is not None and result.url else [key]
