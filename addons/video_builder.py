"""The request builder of a video job (`BUILDERS["video"]`): any flow whose request is a
`VideoRequest` (`/v1/videos`, or a chat with the video model).

The dialects have checked every option (`addons/media_options.py`). `build` writes,
per try, the first segment's chat payload on the parent post the video posts addon made on
that account, and hands the video transport the function that writes each extension
(`addons/upstream/video_transport.py`).
"""
from __future__ import annotations

from addons.flow import Flow
from addons.upstream import video_payload as vp
from addons.upstream.config import UpstreamConfig
from addons.upstream.headers import build_headers
from addons.upstream.video_transport import VideoUpstreamRequest
from addons.upstream.wire import UpstreamRequest

CHAT_PATH = "/rest/app-chat/conversations/new"
ORIGIN = "https://grok.com"
IMAGINE = ORIGIN + "/imagine"


class VideoBuilder:
    def prepare(self, flow: Flow) -> None:
        # the dialects checked every option (addons/media_options.py)
        flow.prompt = flow.request.prompt.strip()

    def build(self, flow: Flow, cfg: UpstreamConfig) -> UpstreamRequest:
        req, attempt = flow.request, flow.attempt
        token = flow.lease.token
        parent = attempt.parent_post_id or ""
        prompt = flow.prompt
        lengths = vp.segments(req.seconds)
        fresh = flow.statsig_renewed
        url = cfg.base_url + CHAT_PATH

        def extend(number: int, done: float, extend_post_id: str) -> UpstreamRequest:
            headers = build_headers(cfg, token, origin=ORIGIN,
                                    referer=f"{IMAGINE}/post/{parent}", fresh_statsig=fresh)
            payload = vp.extension_payload(
                prompt, parent_post_id=parent, extend_post_id=extend_post_id,
                done_seconds=done, size=req.size, resolution=req.resolution,
                preset=req.preset, length=lengths[number])
            return UpstreamRequest("POST", url, headers, payload, kind="video")

        headers = build_headers(cfg, token, origin=ORIGIN, referer=IMAGINE, fresh_statsig=fresh)
        payload = vp.first_payload(prompt, parent_post_id=parent, size=req.size,
                                   resolution=req.resolution, preset=req.preset,
                                   length=lengths[0], references=attempt.media_refs)
        return VideoUpstreamRequest("POST", url, headers, payload, kind="video",
                                    segments=lengths, extend=extend, parent_post_id=parent)
