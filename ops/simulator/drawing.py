"""Images a chat draws: a chat message starting with `Drawing:` (what the chat-based image
generation of a gateway sends) is answered with generated images instead of text.

Per slot (`imageGenerationCount`, 1–4, default 2) `streamingImageGenerationResponse` frames
with a preview path (`…/<id>-part-0/image.jpg`, progress 30 and 70) and then the final one
(progress 100, `users/<uid>/generated/<id>/image.jpg`, owner-only on the CDN), a
generated-image card, then `modelResponse` (its `generatedImageUrls` lists every slot,
moderated ones too), the soft stop and `finalMetadata`. The k-th image an account makes for a
prompt is `generated_image(prompt, None, stage, k)` (no aspect ratio control).

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
    frames = [_frame({"token": "I generated images with the prompt: " + prompt,
                      "isThinking": False, "messageTag": "final", "responseId": rid})]
    paths: list[str] = []
    made: list[tuple[str, bytes]] = []
    for index in range(slots):
        gen_id = str(uuid.uuid4())
        part = f"users/{sim.user_id}/generated/{gen_id}-part-0/image.jpg"
        state.add_media(part, generated_image(prompt, None, "preview", first + index), "image/jpeg", sim=sim)
        for progress in (30, 70):
            frames.append(_frame({"streamingImageGenerationResponse": {
                "imageIndex": index, "progress": progress, "imageUrl": part, "moderated": False,
                "isFinal": False}, "responseId": rid}))
        path = f"users/{sim.user_id}/generated/{gen_id}/image.jpg"
        final: dict[str, Any] = {"imageIndex": index, "progress": 100, "imageUrl": path, "isFinal": True}
        if index in moderated:
            final["moderated"] = True
        else:
            if stale:
                path, data = stale[index % len(stale)]
                final["imageUrl"] = path
            else:
                data = generated_image(prompt, None, "final", first + index)
                state.add_media(path, data, "image/jpeg", sim=sim, prompt=prompt, index=first + index)
                made.append((path, data))
            final["moderated"] = False
            card = {"id": gen_id, "type": "render_generated_image",
                    "image_chunk": {"imageUuid": gen_id, "imageUrl": path, "progress": 100,
                                    "moderated": False}}
            frames.append(_frame({"cardAttachment": {"jsonData": orjson.dumps(card).decode()},
                                  "responseId": rid}))
        paths.append(path)
        frames.append(_frame({"streamingImageGenerationResponse": final, "responseId": rid}))
    if made:
        state.last_images[sim.token] = made
    frames.append(_frame({"modelResponse": {"responseId": rid, "message": "", "sender": "assistant",
                                            "generatedImageUrls": paths, "fileAttachments": []}}))
    frames.append(_frame({"token": "", "isSoftStop": True, "responseId": rid}))
    frames.append(_frame({"finalMetadata": {"followUpSuggestions": []}, "responseId": rid}))
    return await _send(request, frames, int_directive(marks, "delay_ms", 0) / 1000)
