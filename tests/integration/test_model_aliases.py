"""Older model names (api-surface §3.3): chat accepts them as their successors, `/v1/models/`
answers for them, and the list shows them only when the operator asks."""
from __future__ import annotations

import openai
import pytest


@pytest.mark.parametrize("old, new, mode", [
    ("grok-3-mini", "grok-4.20-fast", "fast"),
    ("grok-4-thinking", "grok-4.20-expert", "expert"),
    ("grok-4.1-fast", "grok-4.20-fast", "fast"),
    ("grok-4-heavy", "grok-4.20-heavy", "heavy"),
])
async def test_an_old_name_chats_as_its_successor(stack, old, new, mode):
    await stack.start_gateway()
    stack.add_account("tok-alias-h", "heavy")
    client = stack.openai()
    answer = await client.chat.completions.create(
        model=old, messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content
    assert stack.last_chat().mode == mode
    model = await client.models.retrieve(old)
    assert model.id == old and model.model_extra["root"] == new
    listed = [m.id for m in (await client.models.list()).data]
    assert new in listed and old not in listed


async def test_the_list_shows_old_names_when_configured(stack):
    await stack.start_gateway(GROK_MODELS_LIST_ALIASES="true")
    stack.add_account("tok-alias-b", "basic")
    listed = [m.id for m in (await stack.openai().models.list()).data]
    assert "grok-4.20-fast" in listed and "grok-3-mini" in listed
    # an old name of a model no basic account can use stays out, as its model does
    assert "grok-4-heavy" not in listed and "grok-4.20-heavy" not in listed
    with pytest.raises(openai.NotFoundError):
        await stack.openai().models.retrieve("grok-4-heavy")
