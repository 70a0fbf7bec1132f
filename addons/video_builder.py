"""The request builder of a video job (`BUILDERS["video"]`): any flow whose request is a
`VideoRequest` (`/v1/videos`, or a chat with the video model).

`prepare` checks what a payload cannot do without (a prompt, the supported seconds, size,
resolution and preset: a 400 naming the field before any account is leased). `build` writes,
per try, the first segment's chat payload on the parent post the video posts addon made on
that account, and hands the video transport the function that writes each extension
(`addons/upstream/video_transport.py`).
"""
from __future__ import annotations

from addons.errors import validation
from addons.flow import Flow
from addons.jobs import VideoRequest
from addons.upstream import video_payload as vp
from addons.upstream.config import UpstreamConfig
from addons.upstream.headers import build_headers
from addons.upstream.video_transport import VideoUpstreamRequest
from addons.upstream.wire import UpstreamRequest

CHAT_PATH = "/rest/app-chat/conversations/new"
ORIGIN = "https://grok.com"
IMAGINE = ORIGIN + "/imagine"


def check_video(req: VideoRequest) -> None:
    """400 for a value grok.com cannot make; the parameter names are `/v1/videos`'s."""
    if not req.prompt or not req.prompt.strip():
        raise validation("prompt must not be empty", "prompt")
    if req.seconds not in vp.SEGMENTS:
        raise validation(f"seconds must be one of {', '.join(map(str, vp.SEGMENTS))}",
                         "seconds")
    if req.size not in vp.RATIOS:
        raise validation(f"size must be one of {', '.join(vp.RATIOS)}", "size")
    if req.resolution not in vp.RESOLUTIONS:
        raise validation(f"resolution_name must be one of {', '.join(vp.RESOLUTIONS)}",
                         "resolution_name")
    if req.preset not in vp.MODES:
        raise validation(f"preset must be one of {', '.join(vp.MODES)}", "preset")


class VideoBuilder:
    def prepare(self, flow: Flow) -> None:
        check_video(flow.request)
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
