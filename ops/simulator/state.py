"""Mutable state of the grok.com simulator: tokens, quota windows, faults, records, uploads.

Everything a test wants to arrange or inspect lives here; the HTTP layer (app.py) only
reads and updates it. All methods are synchronous and never await, so a check followed
by an update (quota check + consume, fault lookup + decrement) is atomic on the loop.
"""
from __future__ import annotations

import itertools
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from ops.simulator.directives import ALL_FAULTS
from ops.simulator.mgw_plan import MgwSession

Tier = Literal["basic", "super", "heavy"]
TokenStatus = Literal["active", "expired", "blocked", "email_rejected"]

MODES: tuple[str, ...] = ("auto", "fast", "expert", "heavy", "grok-420-computer-use-sa")
TIERS: tuple[str, ...] = ("basic", "super", "heavy")
STATUSES: tuple[str, ...] = ("active", "expired", "blocked", "email_rejected")

#: Quota defaults per tier: mode -> (totalQueries, windowSizeSeconds).
#: basic/auto exists only so `rate-limits` answers total 20 (tier inference); a basic
#: token still cannot chat in `auto` (see ALLOWED_MODES).
TIER_QUOTAS: dict[str, dict[str, tuple[int, int]]] = {
    "basic": {"fast": (30, 86400), "auto": (20, 7200)},
    "super": {
        "auto": (50, 7200),
        "fast": (140, 7200),
        "expert": (50, 7200),
        "grok-420-computer-use-sa": (50, 7200),
    },
    "heavy": {
        "auto": (150, 7200),
        "fast": (400, 7200),
        "expert": (150, 7200),
        "heavy": (20, 7200),
        "grok-420-computer-use-sa": (150, 7200),
    },
}

#: Imagine products per tier, as `/rest/media/imagine/quota_info` reports them: a window
#: (totalQueries, windowSizeSeconds), None (the key is null: not metered) or False
#: (`{"available": false}`: the tier cannot use it).
IMAGINE_QUOTAS: dict[str, dict[str, tuple[int, int] | None | bool]] = {
    "basic": {"image": None, "imagePro": False, "imageEdit": (10, 86400), "video": (10, 86400),
              "video720p": False},
    "super": {"image": None, "imagePro": (50, 86400), "imageEdit": (50, 86400), "video": (50, 86400),
              "video720p": (20, 86400)},
    "heavy": {"image": None, "imagePro": (200, 86400), "imageEdit": (200, 86400),
              "video": (200, 86400), "video720p": (100, 86400)},
}
IMAGINE_PRODUCTS: tuple[str, ...] = ("image", "imagePro", "imageEdit", "video", "video720p")

#: Chat modes each tier may use.
ALLOWED_MODES: dict[str, frozenset[str]] = {
    "basic": frozenset({"fast"}),
    "super": frozenset({"auto", "fast", "expert", "grok-420-computer-use-sa"}),
    "heavy": frozenset(MODES),
}

#: Window reported for a mode the tier has no quota for.
DEFAULT_WINDOW_SECONDS = 7200

CHAT_PATH = "/rest/app-chat/conversations/new"
RATE_LIMITS_PATH = "/rest/rate-limits"
UPLOAD_PATH = "/rest/app-chat/upload-file"
UPLOAD_V2_PATH = "/http/upload-file-v2/direct"
MGW_PATH = "/ws/mgw/"
SESSION_PATH = "/api/auth/session"
#: Account settings: accept terms (gRPC-web; an accounts.x.ai path, served on the
#: simulator's one origin), accept terms as JSON, set birth date, NSFW feature control.
TOS_PATH = "/auth_mgmt.AuthManagement/SetTosAcceptedVersion"
TOS_JSON_PATH = "/rest/auth/set-tos-accepted"
BIRTH_DATE_PATH = "/rest/auth/set-birth-date"
FEATURE_CONTROLS_PATH = "/auth_mgmt.AuthManagement/UpdateUserFeatureControls"
IMAGINE_WS_PATH = "/ws/imagine/listen"
QUOTA_INFO_PATH = "/rest/media/imagine/quota_info"
MEDIA_POST_PATH = "/rest/media/post/create"
SHARE_LINK_PATH = "/rest/media/post/create-link"
UPSCALE_PATH = "/rest/media/video/upscale"
#: The account's files (uploads and generated media): list, and delete one by asset id.
ASSETS_PATH = "/rest/assets"
ASSET_DELETE_PREFIX = "/rest/assets-metadata/"
#: Public imagine files (the `imagine-public` host, served on the simulator's one origin).
PUBLIC_IMAGES_PREFIX = "imagine-public/images/"
PUBLIC_VIDEOS_PREFIX = "imagine-public/share-videos/"


#: Creation order of uploads and generated files (their wall-clock times may tie).
_CREATED = itertools.count()


@dataclass(slots=True)
class QuotaWindow:
    total: int
    remaining: int
    window_seconds: int
    started_at: float


@dataclass(slots=True)
class SimToken:
    token: str
    tier: str = "basic"
    status: str = "active"
    user_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    quotas: dict[str, QuotaWindow] = field(default_factory=dict)
    #: account settings: terms accepted, birth date (ISO text), NSFW on
    tos_accepted: bool = False
    birth_date: str | None = None
    nsfw: bool = False

    def flags(self) -> dict[str, Any]:
        """The account-setting flags under their control-API names."""
        return {"tosAccepted": self.tos_accepted, "birthDate": self.birth_date, "nsfw": self.nsfw}


@dataclass(slots=True)
class Fault:
    """An injected failure for the next `times` matching calls."""

    name: str
    path: str
    token: str | None = None
    times: int = 1
    options: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any
    token: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form for the control API."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "json": self.json,
            "body": self.body.decode("utf-8", "replace") if self.json is None else None,
            "body_len": len(self.body),
            "token": self.token,
        }


@dataclass(slots=True)
class UploadedFile:
    file_id: str
    token: str
    user_id: str
    file_name: str
    mime: str
    data: bytes
    #: wall-clock time of the upload (the asset list's `createdAt`), and its creation order
    created_at: float = field(default_factory=time.time)
    order: int = field(default_factory=lambda: next(_CREATED))


@dataclass(slots=True)
class MediaAsset:
    """A file grok.com generated: served at `path` (no leading slash) by the CDN, to its
    owner's cookies only unless `public`."""

    path: str
    asset_id: str
    token: str | None
    user_id: str | None
    mime: str
    data: bytes
    public: bool = False
    #: What made it, for tests: prompt, stage, index, aspect ratio …
    meta: dict[str, Any] = field(default_factory=dict)
    #: wall-clock time it was made (the asset list's `createdAt`), and its creation order
    created_at: float = field(default_factory=time.time)
    order: int = field(default_factory=lambda: next(_CREATED))


@dataclass(slots=True)
class MediaPost:
    post_id: str
    token: str
    media_type: str
    prompt: str | None
    media_url: str | None
    #: A video post: its generated video id (set when a video is made for it).
    video_id: str | None = None


class SimulatorState:
    """All simulator state. Create one per simulator; tests mutate it directly."""

    def __init__(self, *, max_recorded: int = 20000, max_media: int = 2000) -> None:
        self.max_recorded = max_recorded
        #: Generated files kept for the CDN (paths, aliases included); the oldest go first,
        #: so a long benchmark of image rounds does not grow the simulator without bound.
        self.max_media = max_media
        self.tokens: dict[str, SimToken] = {}
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self.files: dict[str, UploadedFile] = {}
        #: Generated media by CDN path (`users/<uid>/generated/<id>/image.jpg`, also
        #: `users/<uid>/<assetId>/content`, `imagine-public/images/<uuid>.jpg`).
        self.media: dict[str, MediaAsset] = {}
        #: Generated videos by video id (for upscale and share links).
        self.videos: dict[str, MediaAsset] = {}
        #: Media posts by id (parents of edits and videos).
        self.posts: dict[str, MediaPost] = {}
        #: Accepted imagine WebSocket connections with the frames they received.
        self.imagine_sessions: list[Any] = []
        #: Last refused imagine handshake per token, replayed to a plain GET (as for mgw).
        self.imagine_refusals: dict[str | None, Any] = {}
        #: The asset CDN (and the public imagine host) answer 503 to everything.
        self.cdn_offline: bool = False
        #: Accepted `ws/mgw` connections with the frames they received.
        self.mgw_sessions: list[MgwSession] = []
        #: Last refused `ws/mgw` handshake per token: a plain GET of the endpoint replays it,
        #: because a WebSocket client cannot read the body of a refused upgrade.
        self.mgw_refusals: dict[str | None, Any] = {}
        #: Reject a missing/empty x-statsig-id (403 anti-bot).
        self.require_statsig: bool = True
        #: Also reject values whose base64 decodes to the `e:` prefix.
        self.strict_statsig: bool = False
        #: Cloudflare emulation: every grok.com path (not the accounts host's) needs a
        #: `cf_clearance` cookie this simulator issued, sent with the User-Agent it was issued
        #: for; anything else gets the "Just a moment..." page.
        self.cloudflare: bool = False
        #: Issued clearances: cookie value -> the User-Agent it is bound to.
        self.clearances: dict[str, str] = {}
        #: False = never consume or enforce quota (benchmarks).
        self.quota_enabled: bool = True
        #: gRPC-web replies also carry `grpc-status` (and `grpc-message`) as HTTP headers.
        self.grpc_status_header: bool = False
        #: gRPC-web replies base64-encoded as `application/grpc-web-text+proto`.
        self.grpc_web_text: bool = False
        #: Added to the clock; `advance_time` moves quota windows forward.
        self.time_offset: float = 0.0
        self.active_streams = 0
        self.cancelled_streams = 0
        self.completed_streams = 0
        self.total_chats = 0

    # ---- clock -------------------------------------------------------------------
    def now(self) -> float:
        return time.monotonic() + self.time_offset

    def advance_time(self, seconds: float) -> None:
        """Pretend `seconds` passed (for window-reset tests)."""
        self.time_offset += seconds

    # ---- tokens and quota --------------------------------------------------------
    def add_token(self, token: str, tier: str = "basic", status: str = "active") -> SimToken:
        if tier not in TIERS:
            raise ValueError(f"unknown tier {tier!r}")
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        now = self.now()
        quotas = {
            mode: QuotaWindow(total, total, window, now)
            for mode, (total, window) in TIER_QUOTAS[tier].items()
        }
        for product, spec in IMAGINE_QUOTAS[tier].items():
            if isinstance(spec, tuple):
                quotas[product] = QuotaWindow(spec[0], spec[0], spec[1], now)
        sim = SimToken(token=token, tier=tier, status=status, quotas=quotas)
        self.tokens[token] = sim
        return sim

    def set_status(self, token: str, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        self.tokens[token].status = status

    def set_quota(
        self,
        token: str,
        mode: str,
        remaining: int,
        *,
        total: int | None = None,
        window_seconds: int | None = None,
    ) -> QuotaWindow:
        """Set a window's remaining count (total grows to match if needed)."""
        sim = self.tokens[token]
        win = self.window(sim, mode)
        win.remaining = remaining
        if total is not None:
            win.total = total
        win.total = max(win.total, remaining)
        if window_seconds is not None:
            win.window_seconds = window_seconds
        return win

    def window(self, sim: SimToken, mode: str) -> QuotaWindow:
        """The token's window for `mode`, refilled if its period has elapsed."""
        now = self.now()
        win = sim.quotas.get(mode)
        if win is None:
            win = QuotaWindow(0, 0, DEFAULT_WINDOW_SECONDS, now)
            sim.quotas[mode] = win
        elif now - win.started_at >= win.window_seconds:
            win.remaining = win.total
            win.started_at = now
        return win

    def wait_seconds(self, win: QuotaWindow) -> int:
        """Whole seconds until `win` resets (at least 1)."""
        return max(1, math.ceil(win.started_at + win.window_seconds - self.now()))

    def try_consume(self, sim: SimToken, mode: str) -> bool:
        """Take one query from the window; False (nothing taken) when exhausted."""
        if not self.quota_enabled:
            return True
        win = self.window(sim, mode)
        if win.remaining <= 0:
            return False
        win.remaining -= 1
        return True

    def charge_product(self, sim: SimToken, product: str) -> bool:
        """Take one use of an imagine product; False (nothing taken) when the tier lacks it
        or its window is exhausted. A product the tier does not meter is always allowed."""
        spec = IMAGINE_QUOTAS[sim.tier].get(product)
        if spec is False:
            return False
        if spec is None and product not in sim.quotas:
            return True
        return self.try_consume(sim, product)

    # ---- faults --------------------------------------------------------------------
    def inject(
        self,
        fault: str,
        *,
        token: str | None = None,
        times: int = 1,
        path: str = CHAT_PATH,
        **options: int,
    ) -> Fault:
        """Make the next `times` calls to `path` (optionally only for `token`) fail.

        `options` carries fault parameters such as `stall_ms` or `first_byte_ms`.
        """
        if fault not in ALL_FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        item = Fault(name=fault, path=path, token=token, times=times, options=dict(options))
        self.faults.append(item)
        return item

    def take_fault(self, path: str, token: str | None) -> Fault | None:
        """Pop one use of the first fault matching this call."""
        if not self.faults:
            return None
        for i, item in enumerate(self.faults):
            if item.path == path and (item.token is None or item.token == token):
                item.times -= 1
                if item.times <= 0:
                    del self.faults[i]
                return item
        return None

    # ---- Cloudflare emulation ------------------------------------------------------
    def issue_clearance(self, user_agent: str) -> str:
        """A new `cf_clearance` value, valid only with `user_agent` (what a solved challenge
        gives a browser)."""
        value = f"sim-cf-{uuid.uuid4().hex}"
        self.clearances[value] = user_agent
        return value

    def revoke_clearances(self) -> None:
        """Every issued clearance stops working (Cloudflare expired them)."""
        self.clearances.clear()

    def clearance_ok(self, cf_clearance: str | None, user_agent: str) -> bool:
        """Would Cloudflare let this request through (always, with the emulation off)?"""
        if not self.cloudflare:
            return True
        return cf_clearance is not None and self.clearances.get(cf_clearance) == user_agent

    # ---- records -------------------------------------------------------------------
    def record(self, req: RecordedRequest) -> None:
        if len(self.requests) >= self.max_recorded:
            del self.requests[: self.max_recorded // 2]
        self.requests.append(req)

    def clear_requests(self) -> None:
        self.requests.clear()
        self.mgw_sessions.clear()
        self.imagine_sessions.clear()

    def add_mgw_session(self, session: MgwSession) -> None:
        if len(self.mgw_sessions) >= self.max_recorded:
            del self.mgw_sessions[: self.max_recorded // 2]
        self.mgw_sessions.append(session)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    # ---- uploads -------------------------------------------------------------------
    def add_file(self, sim: SimToken, file_name: str, mime: str, data: bytes) -> UploadedFile:
        file_id = str(uuid.uuid4())
        item = UploadedFile(file_id, sim.token, sim.user_id, file_name, mime, data)
        self.files[file_id] = item
        return item

    # ---- generated media -----------------------------------------------------------
    def add_media(self, path: str, data: bytes, mime: str, *, sim: SimToken | None,
                  public: bool = False, asset_id: str | None = None, **meta: Any) -> MediaAsset:
        """Publish generated bytes at `path`; an owned file is also reachable as
        `users/<uid>/<assetId>/content`, the form clients build from an asset id."""
        item = MediaAsset(path, asset_id or str(uuid.uuid4()), sim.token if sim else None,
                          sim.user_id if sim else None, mime, data, public, dict(meta))
        if len(self.media) >= self.max_media:
            for old in list(self.media)[: max(1, self.max_media // 4)]:
                del self.media[old]
        self.media[path] = item
        if sim is not None:
            self.media[f"users/{sim.user_id}/{item.asset_id}/content"] = item
        return item

    def assets_of(self, sim: SimToken) -> list[UploadedFile | MediaAsset]:
        """The files the account holds, newest first: its uploads and the generated files it
        owns (each once, whatever its aliases; `-part-` previews are not assets)."""
        found: dict[int, UploadedFile | MediaAsset] = {}
        for item in self.files.values():
            if item.token == sim.token:
                found[id(item)] = item
        for path, media in self.media.items():
            if media.token == sim.token and "-part-" not in media.path:
                found.setdefault(id(media), media)
        return sorted(found.values(), key=lambda a: a.order, reverse=True)

    def delete_asset(self, sim: SimToken, asset_id: str) -> bool | None:
        """Forget asset `asset_id` of `sim` (the CDN stops serving it under every path):
        True when deleted, None when no asset has that id, False when another account owns it."""
        upload = self.files.get(asset_id)
        if upload is not None:
            if upload.token != sim.token:
                return False
            del self.files[asset_id]
            return True
        paths = [p for p, m in self.media.items() if m.asset_id == asset_id and m.token is not None]
        if not paths:
            return None
        if any(self.media[p].token != sim.token for p in paths):
            return False
        for path in paths:
            del self.media[path]
        self.videos.pop(asset_id, None)
        return True

    def add_post(self, sim: SimToken, media_type: str, prompt: str | None, media_url: str | None) -> MediaPost:
        post = MediaPost(str(uuid.uuid4()), sim.token, media_type, prompt, media_url)
        self.posts[post.post_id] = post
        return post

    # ---- lifecycle -----------------------------------------------------------------
    def reset(self) -> None:
        """Forget tokens, quotas, faults, records, uploads, counters and flags."""
        self.tokens.clear()
        self.faults.clear()
        self.requests.clear()
        self.files.clear()
        self.media.clear()
        self.posts.clear()
        self.videos.clear()
        self.imagine_sessions.clear()
        self.imagine_refusals.clear()
        self.cdn_offline = False
        self.mgw_sessions.clear()
        self.mgw_refusals.clear()
        self.require_statsig = True
        self.strict_statsig = False
        self.cloudflare = False
        self.clearances.clear()
        self.quota_enabled = True
        self.grpc_status_header = False
        self.grpc_web_text = False
        self.time_offset = 0.0
        self.cancelled_streams = 0
        self.completed_streams = 0
        self.total_chats = 0
        # active_streams is left alone: streams still open will decrement it.

    def stats(self) -> dict[str, int]:
        return {
            "active_streams": self.active_streams,
            "cancelled_streams": self.cancelled_streams,
            "completed_streams": self.completed_streams,
            "total_chats": self.total_chats,
            "recorded_requests": len(self.requests),
            "tokens": len(self.tokens),
            "pending_faults": sum(f.times for f in self.faults),
        }
