"""Citation events and search sources in the three renderers: annotations, `search_sources`."""
from __future__ import annotations

import json

from addons.events import Citation, End, SearchSources, TextDelta, ToolCall
from addons.flow import Flow
from addons.testflow import tflow
from quart_app.dialects.anthropic_response import complete_message, stream_messages
from quart_app.dialects.openai_chat_response import complete_chat, stream_chat
from quart_app.dialects.responses_response import complete_response, stream_response

URL = "https://en.wikipedia.org/wiki/Paris"
LINK = f" [[1]]({URL})"
TEXT = "Paris." + LINK
CITE = Citation(URL, "Paris - Wikipedia", 6, 6 + len(LINK))
SOURCES = SearchSources([{"url": URL, "title": "Paris - Wikipedia", "type": "web"}])
BATCHES = [[SOURCES], [TextDelta("Paris.")], [TextDelta(LINK), CITE], [End()]]


class ScriptedPipeline:
    def __init__(self, batches):
        self.batches = batches

    async def events(self, flow):
        for batch in self.batches:
            yield batch

    async def close(self, flow):
        pass


def new_flow(stream: bool) -> Flow:
    return tflow(model="m", stream=stream)


def frames(raw: bytes) -> list[dict]:
    out = []
    for block in raw.decode().split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data: ") and line != "data: [DONE]":
                out.append(json.loads(line[6:]))
    return out


async def collect(gen) -> bytes:
    return b"".join([chunk async for chunk in gen])


async def test_chat_non_stream_annotations_and_sources():
    body = await complete_chat(ScriptedPipeline(BATCHES), new_flow(False), "m")
    message = body["choices"][0]["message"]
    assert message["content"] == TEXT
    [ann] = message["annotations"]
    uc = ann["url_citation"]
    assert ann["type"] == "url_citation" and uc["url"] == URL and uc["title"] == "Paris - Wikipedia"
    assert message["content"][uc["start_index"]:uc["end_index"]] == LINK
    assert body["search_sources"][0]["url"] == URL


async def test_chat_without_citations_has_no_annotations():
    body = await complete_chat(ScriptedPipeline([[TextDelta("hi")], [End()]]), new_flow(False), "m")
    assert "annotations" not in body["choices"][0]["message"] and "search_sources" not in body


async def test_chat_annotations_shift_with_stripped_text_before_calls():
    cite = Citation(URL, "t", 8, 8 + len(LINK))
    batches = [[TextDelta("  Paris."), TextDelta(LINK), cite],
               [ToolCall("call_1", "f", "{}")], [End("tool_calls")]]
    message = (await complete_chat(ScriptedPipeline(batches), new_flow(False), "m"))["choices"][0]["message"]
    uc = message["annotations"][0]["url_citation"]
    assert message["content"][uc["start_index"]:uc["end_index"]] == LINK


async def test_chat_stream_annotations_on_the_final_chunk():
    chunks = frames(await collect(stream_chat(ScriptedPipeline(BATCHES), new_flow(True), "m")))
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    final = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(final) == 1
    [ann] = final[0]["choices"][0]["delta"]["annotations"]
    uc = ann["url_citation"]
    assert content[uc["start_index"]:uc["end_index"]] == LINK
    assert final[0]["search_sources"][0]["url"] == URL
    assert all("annotations" not in c["choices"][0]["delta"] for c in chunks if c is not final[0]
               and c["choices"])


async def test_responses_non_stream_annotations():
    body = await complete_response(ScriptedPipeline(BATCHES), new_flow(False), "m", {})
    [message] = body["output"]
    [part] = message["content"]
    [ann] = part["annotations"]
    assert ann == {"type": "url_citation", "url": URL, "title": "Paris - Wikipedia",
                   "start_index": 6, "end_index": 6 + len(LINK)}
    assert part["text"][ann["start_index"]:ann["end_index"]] == LINK
    assert message["search_sources"][0]["url"] == URL


async def test_responses_stream_annotation_added_event():
    events = frames(await collect(stream_response(ScriptedPipeline(BATCHES), new_flow(True), "m", {})))
    names = [e["type"] for e in events]
    i = names.index("response.output_text.annotation.added")
    added = events[i]
    assert added["annotation_index"] == 0 and added["annotation"]["url"] == URL
    assert added["content_index"] == 0 and added["item_id"].startswith("msg_")
    assert names.index("response.output_text.delta") < i < names.index("response.output_text.done")
    done = events[names.index("response.content_part.done")]
    assert done["part"]["annotations"] == [added["annotation"]]
    completed = events[names.index("response.completed")]["response"]
    assert completed["output"][0]["content"][0]["annotations"] == [added["annotation"]]


async def test_anthropic_non_stream_annotations_and_sources():
    body = await complete_message(ScriptedPipeline(BATCHES), new_flow(False), "m")
    [block] = body["content"]
    assert block["text"] == TEXT
    ann = block["annotations"][0]
    assert block["text"][ann["start_index"]:ann["end_index"]] == LINK
    assert body["search_sources"][0]["url"] == URL


async def test_anthropic_stream_message_delta_carries_them():
    events = frames(await collect(stream_messages(ScriptedPipeline(BATCHES), new_flow(True), "m")))
    [delta] = [e for e in events if e["type"] == "message_delta"]
    assert delta["delta"]["search_sources"][0]["url"] == URL
    assert delta["delta"]["annotations"][0]["end_index"] == 6 + len(LINK)
    assert delta["delta"]["stop_reason"] == "end_turn"
