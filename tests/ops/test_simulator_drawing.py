"""Images a chat draws (`Drawing: …`): generated-image cards from a null chunk to the final
image, owner-only files, a new image per chat, moderated slots, stale answers."""
from __future__ import annotations

from typing import Any

import orjson

from ops.simulator.media import generated_image
from tests.ops.simhelpers import CHAT, auth_headers, chat_payload


async def _draw(session, sim, prompt: str, token: str = "tok") -> list[dict[str, Any]]:
    async with session.post(sim.url + CHAT, json=chat_payload("Drawing: " + prompt),
                            headers=auth_headers(token)) as r:
        assert r.status == 200
        raw = await r.read()
    return [orjson.loads(line)["result"]["response"] for line in raw.split(b"\n") if line]


def _chunks(frames: list[dict[str, Any]]) -> dict[str, list]:
    """Per card id, its image chunks in order."""
    cards: dict[str, list] = {}
    for f in frames:
        if "cardAttachment" in f:
            data = orjson.loads(f["cardAttachment"]["jsonData"])
            cards.setdefault(data["id"], []).append(data["image_chunk"])
    return cards


async def test_cards_go_from_null_to_preview_to_the_final_owner_only_image(sim, session):
    sim.state.add_token("tok")
    sim.state.add_token("other")
    frames = await _draw(session, sim, "a red door")
    cards = _chunks(frames)
    assert len(cards) == 2
    finals = []
    for chunks in cards.values():
        assert chunks[0] is None
        assert [c["progress"] for c in chunks[1:]] == [30, 70, 100]
        assert all("-part-" in c["imageUrl"] for c in chunks[1:3])
        assert "-part-" not in chunks[-1]["imageUrl"] and chunks[-1]["moderated"] is False
        finals.append(chunks[-1]["imageUrl"])
    response = next(f["modelResponse"] for f in frames if "modelResponse" in f)
    assert response["generatedImageUrls"] == finals
    assert any(f.get("isSoftStop") for f in frames)
    async with session.get(f"{sim.url}/{finals[0]}", headers=auth_headers("tok")) as r:
        assert r.status == 200 and await r.read() == generated_image("a red door", None, "final", 0)
    async with session.get(f"{sim.url}/{finals[0]}", headers=auth_headers("other")) as r:
        assert r.status == 403
    # the next chat draws new images
    again = [c[-1]["imageUrl"] for c in _chunks(await _draw(session, sim, "a red door")).values()]
    async with session.get(f"{sim.url}/{again[0]}", headers=auth_headers("tok")) as r:
        assert await r.read() == generated_image("a red door", None, "final", 2)


async def test_moderated_slots_and_stale_answers(sim, session):
    sim.state.add_token("tok")
    cards = _chunks(await _draw(session, sim, "x [[sim moderated=0]]"))
    assert [c[-1]["moderated"] for c in cards.values()] == [True, False]
    kept = [c[-1]["imageUrl"] for c in cards.values()][1]
    stale = [c[-1]["imageUrl"] for c in _chunks(await _draw(session, sim, "y [[sim stale=1]]")).values()]
    assert stale == [kept, kept]
