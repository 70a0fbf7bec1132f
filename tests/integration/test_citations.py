"""Search sources and inline citations end to end: the simulator's `[[sim search=1]]`
answer, rendered for each official client."""
from __future__ import annotations

import anthropic
import pytest

from addons.upstream.prompt import SOURCES_MARKER

pytestmark = pytest.mark.parametrize("chat_transport", ["rest", "mgw"])
URL = "https://en.wikipedia.org/wiki/Paris"
LINK = f" [[1]]({URL})"
ANSWER = "Hello from the grok simulator." + LINK
SEARCH = [{"role": "user", "content": "[[sim search=1]]"}]


async def ready(stack, **env: str) -> None:
    await stack.start_gateway(**env)
    stack.add_account("tok-a", "basic")


async def test_chat_non_stream_citation_and_annotation(stack):
    await ready(stack)
    r = await stack.openai().chat.completions.create(model="grok-4.20-fast", messages=SEARCH)
    message = r.choices[0].message
    assert message.content == ANSWER and "<grok:" not in message.content
    [ann] = message.annotations
    assert ann.type == "url_citation" and ann.url_citation.url == URL
    assert ann.url_citation.title == "Paris - Wikipedia"
    assert message.content[ann.url_citation.start_index:ann.url_citation.end_index] == LINK
    assert URL in [s["url"] for s in r.model_extra["search_sources"]]


async def test_chat_stream_citation_and_annotation(stack):
    await ready(stack)
    stream = await stack.openai().chat.completions.create(
        model="grok-4.20-fast", messages=SEARCH, stream=True)
    content, annotations, sources = [], [], []
    async for chunk in stream:
        if chunk.model_extra and chunk.model_extra.get("search_sources"):
            sources += chunk.model_extra["search_sources"]
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        content.append(delta.content or "")
        if chunk.choices[0].finish_reason:
            annotations = (delta.model_extra or {}).get("annotations") or []
    text = "".join(content)
    assert text == ANSWER
    [ann] = annotations
    uc = ann["url_citation"]
    assert ann["type"] == "url_citation" and uc["url"] == URL
    assert text[uc["start_index"]:uc["end_index"]] == LINK
    assert URL in [s["url"] for s in sources]


async def test_responses_annotations(stack):
    await ready(stack)
    client = stack.openai()
    r = await client.responses.create(model="grok-4.20-fast", input="[[sim search=1]]")
    [message] = [item for item in r.output if item.type == "message"]
    part = message.content[0]
    assert part.text == ANSWER == r.output_text
    [ann] = part.annotations
    assert ann.type == "url_citation" and ann.url == URL and ann.title == "Paris - Wikipedia"
    assert part.text[ann.start_index:ann.end_index] == LINK

    stream = await client.responses.create(model="grok-4.20-fast", input="[[sim search=1]]",
                                           stream=True)
    added, completed = [], None
    async for event in stream:
        if event.type == "response.output_text.annotation.added":
            added.append(event)
        elif event.type == "response.completed":
            completed = event.response
    assert len(added) == 1 and added[0].annotation_index == 0
    final = completed.output[-1].content[0]
    assert final.text == ANSWER
    assert final.text[final.annotations[0].start_index:final.annotations[0].end_index] == LINK


async def test_anthropic_answer_free_of_markup(stack):
    await ready(stack)
    client = anthropic.AsyncAnthropic(base_url=stack.url, api_key="unused", max_retries=0)
    stack.clients.append(client)
    msg = await client.messages.create(model="grok-4.20-fast", max_tokens=256, messages=SEARCH)
    [block] = [b for b in msg.content if b.type == "text"]
    assert block.text == ANSWER and "<grok:" not in block.text
    assert URL in [s["url"] for s in msg.model_extra["search_sources"]]

    async with client.messages.stream(model="grok-4.20-fast", max_tokens=256,
                                      messages=SEARCH) as stream:
        text = "".join([t async for t in stream.text_stream])
    assert text == ANSWER


async def test_show_search_sources_appends_section(stack):
    await ready(stack, GROK_FEATURES_SHOW_SEARCH_SOURCES="true")
    client = stack.openai()
    r = await client.chat.completions.create(model="grok-4.20-fast", messages=SEARCH)
    content = r.choices[0].message.content
    head, _, section = content.partition("\n\n## Sources\n")
    assert head == ANSWER
    lines = section.splitlines()
    assert lines[0] == SOURCES_MARKER
    assert f"- [Paris - Wikipedia]({URL})" in lines
    assert any("https://x.com/someone/status/1800000000000000000" in line for line in lines)
    # the annotation still slices the citation out of the longer content
    uc = r.choices[0].message.annotations[0].url_citation
    assert content[uc.start_index:uc.end_index] == LINK

    # the appendix is stripped from the history of the next turn
    history = [*SEARCH, {"role": "assistant", "content": content},
               {"role": "user", "content": "thanks"}]
    await client.chat.completions.create(model="grok-4.20-fast", messages=history)
    prompt = stack.last_chat().message
    assert "## Sources" not in prompt and SOURCES_MARKER not in prompt and LINK in prompt
