"""The JSON body of `POST /rest/app-chat/conversations/new` (docs/upstream.md, "The chat
payload")."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from addons.upstream.config import UpstreamConfig


def build_chat_payload(
    cfg: UpstreamConfig,
    message: str,
    mode: str,
    file_ids: Iterable[str] = (),
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole body, field for field. `overrides` are merged at the top level; None values
    are skipped (non-null values win), e.g. `{"imageGenerationCount": 2}` or
    `{"responseMetadata": {...}}`."""
    payload: dict[str, Any] = {
        "collectionIds": [],
        "connectors": [],
        "deviceEnvInfo": {
            "darkModeEnabled": False,
            "devicePixelRatio": 2,
            "screenHeight": 1329,
            "screenWidth": 2056,
            "viewportHeight": 1083,
            "viewportWidth": 2056,
        },
        "disableMemory": not cfg.memory,
        "disableSearch": False,
        "disableSelfHarmShortCircuit": False,
        "disableTextFollowUps": False,
        "enableImageGeneration": True,
        "enableImageStreaming": True,
        "enableSideBySide": True,
        "fileAttachments": list(file_ids),
        "forceConcise": False,
        "forceSideBySide": False,
        "imageAttachments": [],
        "imageGenerationCount": 2,
        "isAsyncChat": False,
        "message": message,
        "modeId": mode,
        "responseMetadata": {},
        "returnImageBytes": False,
        "returnRawGrokInXaiRequest": False,
        "searchAllConnectors": False,
        "sendFinalMetadata": True,
        "temporary": cfg.temporary,
        "toolOverrides": {
            "gmailSearch": False,
            "googleCalendarSearch": False,
            "outlookSearch": False,
            "outlookCalendarSearch": False,
            "googleDriveSearch": False,
        },
    }
    custom = (cfg.custom_instruction or "").strip()
    if custom:
        payload["customPersonality"] = custom
    if overrides:
        payload.update({k: v for k, v in overrides.items() if v is not None})
    return payload
