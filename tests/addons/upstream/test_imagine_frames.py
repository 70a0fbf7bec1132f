"""The imagine socket's stage rules (`ImagineRound`): what is a preview, what is final, what is
withheld, and when a round is over."""
from __future__ import annotations

import base64

from addons.events import MediaModerated, MediaProgress, MediaResult
from addons.media_options import IMAGE_SIZES
from addons.upstream.imagine_frames import ImagineRound, error_failure, media_key, request_frames

URL = "https://imagine-public.x.ai/imagine-public/images/{}.jpg"


def start(image_id: str, order: int) -> dict:
    return {"type": "json", "current_status": "start_stage", "image_id": image_id,
            "order": order, "width": 1024, "height": 1024}


def image(image_id: str, data: bytes, pct: int | None) -> dict:
    frame = {"type": "image", "url": URL.format(image_id), "blob": base64.b64encode(data).decode()}
    if pct is not None:
        frame["percentage_complete"] = pct
    return frame


def completed(image_id: str, order: int, moderated: bool = False, r_rated: bool = False) -> dict:
    return {"type": "json", "current_status": "completed", "image_id": image_id, "order": order,
            "moderated": moderated, "r_rated": r_rated}


def feed(state: ImagineRound, *frames: dict) -> list:
    out: list = []
    for frame in frames:
        out += state.feed(frame)
    return out


def test_previews_are_progress_and_the_final_blob_is_the_result_at_completed():
    state = ImagineRound(1, 0, set(), nsfw=False)
    events = feed(state, start("a", 0), image("a", b"prev", 30), image("a", b"medium", 70))
    assert [type(e) for e in events] == [MediaProgress, MediaProgress]
    assert [e.progress for e in events] == [30, 70]
    assert base64.b64decode(events[0].preview) == b"prev"
    assert feed(state, image("a", b"final", 100)) == []  # not final before `completed`
    assert not state.done
    [result] = feed(state, completed("a", 0))
    assert type(result) is MediaResult and result.blob == b"final" and result.index == 0
    assert result.url == URL.format("a")
    assert state.done and state.finished


def test_a_preview_is_never_a_result_even_when_the_slot_completes_or_the_socket_closes():
    state = ImagineRound(1, 0, set(), nsfw=False)
    feed(state, start("a", 0), image("a", b"prev", 30))
    assert [type(e) for e in feed(state, completed("a", 0))] == []
    assert state.close() == []
    assert state.delivered == 0


def test_a_blob_without_percentage_is_final_and_may_come_after_completed():
    state = ImagineRound(1, 0, set(), nsfw=False)
    assert feed(state, start("a", 0), completed("a", 0)) == []
    [result] = feed(state, image("a", b"full", None))
    assert result.blob == b"full" and state.done


def test_moderated_and_r_rated_slots_are_withheld_and_results_are_numbered_from_zero():
    state = ImagineRound(3, 0, set(), nsfw=False)
    events = feed(state, start("a", 0), start("b", 1), start("c", 2),
                  image("a", b"pa", 30), completed("a", 0, moderated=True),
                  image("b", b"pb", 30), image("b", b"fb", 100), completed("b", 1, r_rated=True),
                  image("c", b"pc", 30), image("c", b"fc", 100), completed("c", 2))
    kinds = [type(e) for e in events]
    assert kinds == [MediaProgress, MediaModerated, MediaProgress, MediaModerated,
                     MediaProgress, MediaResult]
    assert events[-1].index == 0 and events[-1].blob == b"fc"
    assert events[4].index == 0  # the preview of the slot that becomes image 0
    assert state.withheld == 2 and state.done


def test_r_rated_is_kept_when_the_request_enabled_nsfw():
    state = ImagineRound(1, 0, set(), nsfw=True)
    [result] = feed(state, start("a", 0), image("a", b"f", 100), completed("a", 0, r_rated=True))
    assert result.blob == b"f"


def test_duplicates_are_not_delivered_and_indexes_continue_across_rounds():
    seen: set[str] = set()
    first = ImagineRound(2, 0, seen, nsfw=False)
    feed(first, start("a", 0), image("a", b"one", 100), completed("a", 0))
    second = ImagineRound(2, 1, seen, nsfw=False)
    events = feed(second, start("b", 0), start("c", 1), image("b", b"one", 100), completed("b", 0),
                  image("c", b"two", 100), completed("c", 1))
    assert [(e.index, e.blob) for e in events] == [(1, b"two")]
    assert second.delivered == 1 and second.done


def test_the_round_is_over_when_the_slots_asked_for_completed():
    state = ImagineRound(4, 0, set(), nsfw=False, expected=2)
    feed(state, start("a", 0), start("b", 1), image("a", b"x", 100), completed("a", 0))
    assert not state.done
    feed(state, completed("b", 1, moderated=True))
    assert state.done and state.delivered == 1


def test_closing_delivers_full_slots_that_were_not_withheld():
    state = ImagineRound(3, 0, set(), nsfw=False)
    feed(state, start("a", 0), start("b", 1), start("c", 2), image("a", b"fa", 100),
         image("b", b"pb", 50), image("c", b"fc", 100), completed("c", 2, moderated=True))
    assert [(e.index, e.blob) for e in state.close()] == [(0, b"fa")]


def test_the_completed_frame_may_carry_the_image():
    state = ImagineRound(1, 0, set(), nsfw=False)
    frame = completed("a", 0) | {"url": URL.format("a"), "blob": base64.b64encode(b"z").decode()}
    [result] = feed(state, start("a", 0), frame)
    assert result.blob == b"z"


def test_error_frames_end_the_round_rate_limits_as_429():
    state = ImagineRound(1, 0, set(), nsfw=False)
    feed(state, {"type": "error", "err_code": "rate_limit_exceeded", "err_msg": "Too many"})
    assert state.done and state.failure.status == 429
    assert error_failure({"type": "error", "err_code": "internal"}).status == 502


def test_request_frames_and_sizes():
    reset, ask = request_frames("cat", aspect_ratio="16:9", enable_nsfw=True, enable_pro=False,
                                count=3)
    assert reset["item"]["content"] == [{"type": "reset"}]
    part = ask["item"]["content"][0]
    assert part["type"] == "input_text" and part["text"] == "cat" and part["requestId"]
    assert part["properties"].items() >= {"aspect_ratio": "16:9", "enable_nsfw": True,
                                          "enable_pro": False, "num_generations": 3}.items()
    assert [IMAGE_SIZES[s] for s in ("1280x720", "720x1280", "1792x1024", "1024x1792",
                                      "1024x1024", "3:2")] == ["16:9", "9:16", "3:2", "2:3",
                                                               "1:1", "3:2"]
    assert media_key(MediaResult("image", 0, "u", blob=b"a")) != media_key(
        MediaResult("image", 0, "u", blob=b"b"))
