"""Images a chat draws: a chat message starting with `Drawing:` (what the chat-based image
generation of a gateway sends) is answered with generated images instead of text.

The frames follow grok.com's generated-image cards: per slot (`imageGenerationCount`, 1–4,
default 2) a card with `image_chunk: null` and its `<grok:render>` token, then the card again
with a preview (`…/<uuid>-part-0/image.jpg`, progress 30 and 70) and with the final image
(progress 100, `users/<uid>/generated/<uuid>/image.jpg`, owner-only on the CDN), then
`modelResponse` (`generatedImageUrls` lists every slot, moderated ones too), the soft stop and
`finalMetadata`. The k-th image an account makes for a prompt is
`generated_image(prompt, None, stage, k)` (no aspect ratio control).

Directives (`[[sim …]]`): `moderated=0,1|all` withholds slots; `stale=1` answers with the
account's previous images; `delay_ms=N` paces the frames.
"""
from __future__ import annotations

import uuid
from typing import Any

import orjson
from aiohttp import web

from ops.simulator.directives import int_directive, media_directives, slot_set
from ops.simulator.mediagen import _frame, _send
from ops.simulator.media import generated_image
from ops.simulator.state import SimToken, SimulatorState

PREFIX = "Drawing:"


def is_drawing(message: str) -> bool:
    return message.lstrip().startswith(PREFIX)


async def drawing_chat(request: web.Request, state: SimulatorState, sim: SimToken,
                       payload: dict[str, Any]) -> web.StreamResponse:
    """The answer to a `Drawing:` chat (auth, statsig, mode and quota already checked)."""
    prompt = payload["message"].lstrip()[len(PREFIX):].strip()
    count = payload.get("imageGenerationCount")
    slots = count if isinstance(count, int) and 1 <= count <= 4 else 2
    marks = media_directives(prompt)
    moderated = slot_set(marks.get("moderated"), slots)
    stale = state.last_images.get(sim.token) if marks.get("stale") in ("1", "true") else None
    first = 0 if stale else state.image_serial(sim.token, prompt, slots)
    rid = str(uuid.uuid4())
    ids = [str(uuid.uuid4()) for _ in range(slots)]
    cards = [f"img{index}-{rid[:8]}" for index in range(slots)]

    def card(index: int, chunk: dict[str, Any] | None) -> bytes:
        data = {"id": cards[index], "type": "render_generated_image",
                "cardType": "generated_image_card", "image_chunk": chunk}
        return _frame({"cardAttachment": {"jsonData": orjson.dumps(data).decode()},
                       "messageTag": "final", "responseId": rid})

    frames: list[bytes] = []
    for index in range(slots):
        frames.append(card(index, None))
        frames.append(_frame({"token": f'<grok:render card_id="{cards[index]}" '
                              'card_type="generated_image_card" type="render_generated_image">'
                              "</grok:render>", "isThinking": False, "messageTag": "final",
                              "responseId": rid}))
    paths: list[str] = []
    made: list[tuple[str, bytes]] = []
    for index, gen_id in enumerate(ids):
        part = f"users/{sim.user_id}/generated/{gen_id}-part-0/image.jpg"
        state.add_media(part, generated_image(prompt, None, "preview", first + index), "image/jpeg", sim=sim)
        for progress in (30, 70):
            frames.append(card(index, {"imageUuid": gen_id, "imageUrl": part, "progress": progress,
                                       "moderated": False}))
        path = f"users/{sim.user_id}/generated/{gen_id}/image.jpg"
        if index not in moderated and stale:
            path, data = stale[index % len(stale)]
        elif index not in moderated:
            data = generated_image(prompt, None, "final", first + index)
            state.add_media(path, data, "image/jpeg", sim=sim, prompt=prompt, index=first + index)
            made.append((path, data))
        frames.append(card(index, {"imageUuid": gen_id, "imageUrl": path, "progress": 100,
                                   "moderated": index in moderated}))
        paths.append(path)
    if made:
        state.last_images[sim.token] = made
    frames.append(_frame({"modelResponse": {"responseId": rid, "message": "", "sender": "assistant",
                                            "generatedImageUrls": paths, "fileAttachments": []}}))
    frames.append(_frame({"token": "", "isSoftStop": True, "responseId": rid}))
    frames.append(_frame({"finalMetadata": {"followUpSuggestions": []}, "responseId": rid}))
    return await _send(request, frames, int_directive(marks, "delay_ms", 0) / 1000)
