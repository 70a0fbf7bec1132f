"""Client → server frames of the `ws/mgw` chat gateway, built from the
REST-shaped chat payload (`chat_payload.py`), so the addons keep building one payload.

Fields read from the REST payload: `message`, `modeId`, `fileAttachments`, `temporary`,
`disableMemory` and the image/side-by-side/follow-up flags. A continuation is expressed by
two optional keys the REST body does not carry today: `conversationId` (→ `load_existing`)
and `parentResponseId` (→ `parent_response_id`). `customPersonality` has no known mgw field
and is not sent.
"""
from __future__ import annotations

import time
import uuid
from typing import Any, Mapping

PROTOCOL_CAPABILITIES = ["conversation_attached", "custom_methods_v1"]


def now_ms() -> int:
    return int(time.time() * 1000)


def file_ids(payload: Mapping[str, Any]) -> list[str]:
    ids = payload.get("fileAttachments") or []
    return [str(i) for i in ids if isinstance(i, str) and i] if isinstance(ids, list) else []


def session_create(payload: Mapping[str, Any], event_id: str) -> dict[str, Any]:
    """`session.create`; a continuation carries the conversation id instead of the fresh keys."""
    x_grok: dict[str, Any] = {
        "protocol_capabilities": list(PROTOCOL_CAPABILITIES),
        "use_chunk": True,
        "enable_side_by_side": bool(payload.get("enableSideBySide", True)),
        "force_side_by_side": bool(payload.get("forceSideBySide", False)),
        "enable_image_generation": bool(payload.get("enableImageGeneration", True)),
        "image_generation_count": int(payload.get("imageGenerationCount", 2) or 2),
        "disable_text_follow_ups": bool(payload.get("disableTextFollowUps", False)),
        "disable_artifact": True,
        "force_concise": bool(payload.get("forceConcise", False)),
    }
    frame: dict[str, Any] = {"event": {"type": "session.create", "event_id": event_id,
                                       "session": {"model": str(payload.get("modeId") or "auto"),
                                                   "x_grok": x_grok}}}
    conversation_id = payload.get("conversationId")
    if isinstance(conversation_id, str) and conversation_id:
        frame["session_id"] = conversation_id
        x_grok.update(conversation_id=conversation_id, load_existing=True, needs_history=False)
    else:
        x_grok.update(keep_context=False, is_temporary=bool(payload.get("temporary", True)),
                      disable_memory=bool(payload.get("disableMemory", True)))
    return frame


def item_create(session_id: str, payload: Mapping[str, Any], event_id: str) -> dict[str, Any]:
    """`conversation.item.create`: file mentions first, then the flattened message text."""
    ids = file_ids(payload)
    chunks: list[dict[str, Any]] = [
        {"mention": {"target": {"file_mention": {"file_id": fid}}}} for fid in ids
    ]
    chunks.append({"text": {"text": str(payload.get("message") or "")}})
    item: dict[str, Any] = {"type": "message", "role": "user",
                            "x_grok": {"client_message_id": str(uuid.uuid4()),
                                       "input_chunks": chunks}}
    event: dict[str, Any] = {"type": "conversation.item.create", "event_id": event_id,
                             "item": item}
    if ids:
        item["file_attachment_ids"] = list(ids)
        event["file_attachment_ids"] = list(ids)
    parent = payload.get("parentResponseId")
    if isinstance(parent, str) and parent:
        event["parent_response_id"] = parent
    return {"session_id": session_id, "event": event}


def response_create(session_id: str, event_id: str) -> dict[str, Any]:
    return {"session_id": session_id, "event": {"type": "response.create", "event_id": event_id}}


def ping() -> dict[str, Any]:
    """The heartbeat sent every 25 s while a turn runs (no session id)."""
    return {"event": {"type": "ping", "event_id": f"evt_hb_{now_ms()}"}}
