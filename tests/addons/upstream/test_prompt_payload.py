from __future__ import annotations

from addons.flow import Attachment, Message
from addons.upstream.chat_payload import build_chat_payload
from addons.upstream.config import UpstreamConfig
from addons.upstream.prompt import flatten, strip_sources


def test_flatten_basic_example() -> None:
    msgs = [
        Message("system", ["Be brief."]),
        Message("user", ["Hi"]),
        Message("assistant", ["Hello!"]),
        Message("user", ["What is 2+2?"]),
    ]
    assert flatten(msgs) == "[system]: Be brief.\n\n[user]: Hi\n\n[assistant]: Hello!\n\n[user]: What is 2+2?"


def test_each_part_own_block_and_attachments_not_inlined() -> None:
    msg = Message("user", ["look", "at this"], attachments=[Attachment("image", "data:image/png;base64,AA")])
    assert flatten([Message("developer", ["d"]), msg]) == "[developer]: d\n\n[user]: look\n\n[user]: at this"


def test_tool_calls_and_results() -> None:
    calls = [
        {"id": "c1", "type": "function",
         "function": {"name": "get_weather", "arguments": '{ "city": "Paris" }'}},
        {"id": "c2", "name": "lookup", "input": {"q": "é"}},
    ]
    msgs = [
        Message("assistant", [], tool_calls=calls),
        Message("tool", ["18°C"], tool_call_id="c1"),
        Message("tool", ["ok"]),
        Message("assistant", ["Let me check."], tool_calls=calls[:1]),
    ]
    xml1 = (
        "<tool_calls>\n  <tool_call>\n    <tool_name>get_weather</tool_name>\n"
        '    <parameters>{"city":"Paris"}</parameters>\n  </tool_call>\n'
        "  <tool_call>\n    <tool_name>lookup</tool_name>\n"
        '    <parameters>{"q":"é"}</parameters>\n  </tool_call>\n</tool_calls>'
    )
    out = flatten(msgs).split("\n\n")
    assert out[0] == "[assistant]:\n" + xml1
    assert out[1] == "[tool result for c1]:\n18°C"
    assert out[2] == "[tool result]:\nok"
    assert out[3].startswith("[assistant]: Let me check.\n<tool_calls>")


def test_sources_appendix_stripped_from_assistant_history() -> None:
    answer = ("Paris [[1]](https://a)\n\n## Sources\n[grok2api-sources]: #\n"
              "- [A](https://a)\n- [B \\[x\\]](https://b)\n")
    assert strip_sources(answer) == "Paris [[1]](https://a)"
    assert flatten([Message("assistant", [answer])]) == "[assistant]: Paris [[1]](https://a)"
    # the user's own text is never touched
    assert flatten([Message("user", [answer])]).endswith("- [B \\[x\\]](https://b)\n")
    assert flatten([Message("assistant", ["## Sources\n[grok2api-sources]: #\n- [A](https://a)"])]) == ""


def test_payload_exact_g2_object() -> None:
    cfg = UpstreamConfig()
    p = build_chat_payload(cfg, "[user]: hi", "fast", ["f1"])
    assert p == {
        "collectionIds": [], "connectors": [],
        "deviceEnvInfo": {"darkModeEnabled": False, "devicePixelRatio": 2, "screenHeight": 1329,
                          "screenWidth": 2056, "viewportHeight": 1083, "viewportWidth": 2056},
        "disableMemory": True, "disableSearch": False, "disableSelfHarmShortCircuit": False,
        "disableTextFollowUps": False, "enableImageGeneration": True, "enableImageStreaming": True,
        "enableSideBySide": True, "fileAttachments": ["f1"], "forceConcise": False,
        "forceSideBySide": False, "imageAttachments": [], "imageGenerationCount": 2,
        "isAsyncChat": False, "message": "[user]: hi", "modeId": "fast", "responseMetadata": {},
        "returnImageBytes": False, "returnRawGrokInXaiRequest": False, "searchAllConnectors": False,
        "sendFinalMetadata": True, "temporary": True,
        "toolOverrides": {"gmailSearch": False, "googleCalendarSearch": False, "outlookSearch": False,
                          "outlookCalendarSearch": False, "googleDriveSearch": False},
    }


def test_payload_options_and_overrides() -> None:
    cfg = UpstreamConfig(memory=True, temporary=False, custom_instruction=" Be terse. ")
    p = build_chat_payload(cfg, "m", "expert", overrides={"imageGenerationCount": 1, "modelName": None})
    assert p["disableMemory"] is False and p["temporary"] is False
    assert p["customPersonality"] == "Be terse."
    assert p["imageGenerationCount"] == 1 and "modelName" not in p
