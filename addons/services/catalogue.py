"""The public model catalogue and model-to-mode routing.

Static data: which upstream mode a model uses, its capability, and the account pools it may
be served from, in the order they are tried.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from state.account import CONSOLE_MODE
from state.options import Loader

CREATED = 1767225600  # fixed `created` of every listed model

B, S, H = "basic", "super", "heavy"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    id: str
    name: str
    capability: str  # chat | image | image_edit | video
    mode: str  # upstream modeId
    pools: tuple[str, ...]  # pool order tried
    context_length: int | None = None
    #: console models: the console's model id (the web's models leave it empty)
    upstream: str = ""
    #: an alias's fixed reasoning effort (`grok-4.3-high`), which wins over the client's
    effort: str | None = None
    #: listed in /v1/models (hidden aliases are only resolved)
    listed: bool = True

    @property
    def console(self) -> bool:
        return self.mode == CONSOLE_MODE

    @property
    def prefer_best(self) -> bool:
        return len(self.pools) > 1 and self.pools[0] == H


def _m(id: str, name: str, cap: str, mode: str, pools: tuple[str, ...], ctx: int | None = 256000) -> ModelSpec:
    return ModelSpec(id, name, cap, mode, pools, ctx if cap == "chat" else None)


CATALOGUE: tuple[ModelSpec, ...] = (
    _m("grok-4.20-0309-non-reasoning", "Grok 4.20 0309 Non-Reasoning", "chat", "fast", (B, S, H)),
    _m("grok-4.20-0309", "Grok 4.20 0309", "chat", "auto", (S, H)),
    _m("grok-4.20-0309-reasoning", "Grok 4.20 0309 Reasoning", "chat", "expert", (S, H)),
    _m("grok-4.20-0309-non-reasoning-super", "Grok 4.20 0309 Non-Reasoning Super", "chat", "fast", (S, H)),
    _m("grok-4.20-0309-super", "Grok 4.20 0309 Super", "chat", "auto", (S, H)),
    _m("grok-4.20-0309-reasoning-super", "Grok 4.20 0309 Reasoning Super", "chat", "expert", (S, H)),
    _m("grok-4.20-0309-non-reasoning-heavy", "Grok 4.20 0309 Non-Reasoning Heavy", "chat", "fast", (H,)),
    _m("grok-4.20-0309-heavy", "Grok 4.20 0309 Heavy", "chat", "auto", (H,)),
    _m("grok-4.20-0309-reasoning-heavy", "Grok 4.20 0309 Reasoning Heavy", "chat", "expert", (H,)),
    _m("grok-4.20-multi-agent-0309", "Grok 4.20 Multi-Agent 0309", "chat", "heavy", (H,)),
    _m("grok-4.20-fast", "Grok 4.20 Fast", "chat", "fast", (H, S, B)),
    _m("grok-4.20-auto", "Grok 4.20 Auto", "chat", "auto", (H, S)),
    _m("grok-4.20-expert", "Grok 4.20 Expert", "chat", "expert", (H, S)),
    _m("grok-4.20-heavy", "Grok 4.20 Heavy", "chat", "heavy", (H,)),
    _m("grok-4.3-beta", "Grok 4.3 Beta", "chat", "grok-420-computer-use-sa", (S, H)),
    _m("grok-4.3-fast", "Grok 4.3 Fast", "chat", "fast", (H, S, B)),
    _m("grok-imagine-image-lite", "Grok Imagine Image Lite", "image", "fast", (B, S, H)),
    _m("grok-imagine-image", "Grok Imagine Image", "image", "auto", (S, H)),
    _m("grok-imagine-image-pro", "Grok Imagine Image Pro", "image", "auto", (S, H)),
    _m("grok-imagine-image-edit", "Grok Imagine Image Edit", "image_edit", "auto", (S, H)),
    _m("grok-imagine-video", "Grok Imagine Video", "video", "auto", (S, H)),
)

def _console(id: str, name: str, upstream: str, effort: str | None = None,
             listed: bool = False, cap: str = "chat") -> ModelSpec:
    return ModelSpec(id, name, cap, CONSOLE_MODE, (B, S, H),
                     1_000_000 if cap == "chat" else None, upstream, effort, listed)


#: The console's models (console-and-voice §3.4, which wins over api-surface §3.2): served by
#: the console transport on accounts tagged `console`. Public ids that the web chat also uses
#: stay the web's; their console routes are the `-console` aliases and `Console/<model>`.
CONSOLE_MODELS: tuple[ModelSpec, ...] = (
    _console("grok-4.3", "Grok 4.3 (console)", "grok-4.3", listed=True),
    _console("grok-4.5", "Grok 4.5 (console)", "grok-4.5", listed=True),
    _console("grok-build-0.1", "Grok Build 0.1 (console)", "grok-build-0.1", listed=True),
    _console("grok-4.3-console", "Grok 4.3 (console)", "grok-4.3"),
    _console("grok-4.3-low", "Grok 4.3 low effort", "grok-4.3", "low"),
    _console("grok-4.3-medium", "Grok 4.3 medium effort", "grok-4.3", "medium"),
    _console("grok-4.3-high", "Grok 4.3 high effort", "grok-4.3", "high"),
    _console("grok-4.5-console", "Grok 4.5 (console)", "grok-4.5"),
    _console("grok-4.20-0309-reasoning-console", "Grok 4.20 0309 Reasoning (console)",
             "grok-4.20-0309-reasoning"),
    _console("grok-4.20-0309-non-reasoning-console", "Grok 4.20 0309 Non-Reasoning (console)",
             "grok-4.20-0309-non-reasoning"),
    _console("grok-4.20-multi-agent-console", "Grok 4.20 Multi-Agent (console)",
             "grok-4.20-multi-agent-0309"),
    *(_console(f"grok-4.20-multi-agent-{e}", f"Grok 4.20 Multi-Agent {e} effort",
               "grok-4.20-multi-agent-0309", e) for e in ("low", "medium", "high", "xhigh")),
    _console("grok-build-console", "Grok Build (console)", "grok-build-0.1"),
    # `Console/<model>` forces the console for a name the web also serves (§0)
    *(_console(f"Console/{u}", f"{u} (console)", u) for u in (
        "grok-4.3", "grok-4.5", "grok-4.20-0309-reasoning", "grok-4.20-0309-non-reasoning",
        "grok-4.20-multi-agent-0309", "grok-build-0.1")),
    # voice (§5): text to speech and speech to text on the console
    _console("grok-voice-latest", "Grok Voice", "grok-voice-latest", listed=True, cap="speech"),
    _console("grok-stt", "Grok Speech to Text", "grok-stt", listed=True, cap="transcription"),
    # the grok.com LiveKit token (WEB §12): a super or heavy account in mode auto
    ModelSpec("grok-voice-livekit", "Grok Voice (LiveKit)", "voice_token", "auto", (S, H),
              listed=False),
)

#: Old names still sent by clients (api-surface §3.3): resolved to their successor; listed in
#: `/v1/models` only with `models.list_aliases`. Fast and mini names go to the fast mode,
#: thinking and expert names to the expert (reasoning) mode.
ALIASES: dict[str, str] = {
    "grok-4": "grok-4.20-auto",
    "grok-4-fast": "grok-4.20-fast",
    "grok-4-mini": "grok-4.20-fast",
    "grok-4-expert": "grok-4.20-expert",
    "grok-4-thinking": "grok-4.20-expert",
    "grok-4-fast-expert": "grok-4.20-expert",
    "grok-4-heavy": "grok-4.20-heavy",
    "grok-4.1": "grok-4.20-auto",
    "grok-4.1-fast": "grok-4.20-fast",
    "grok-4.1-mini": "grok-4.20-fast",
    "grok-4.1-thinking": "grok-4.20-expert",
    "grok-4.1-expert": "grok-4.20-expert",
    "grok-4.1-heavy": "grok-4.20-heavy",
    "grok-4.20-beta": "grok-4.20-auto",
    "grok-3": "grok-4.20-fast",
    "grok-3-fast": "grok-4.20-fast",
    "grok-3-mini": "grok-4.20-fast",
    "grok-3-thinking": "grok-4.20-expert",
    "grok-imagine-1.0": "grok-imagine-image",
    "grok-imagine-1.0-edit": "grok-imagine-image-edit",
    "grok-imagine-1.0-video": "grok-imagine-video",
    # the older fast imagine model drew in the basic tier's fast mode, as lite does
    "grok-imagine-1.0-fast": "grok-imagine-image-lite",
    "grok-imagine-0.9": "grok-imagine-video",
    # what OpenAI's clients send to the audio endpoints (console-and-voice §5)
    "tts-1": "grok-voice-latest",
    "tts-1-hd": "grok-voice-latest",
    "gpt-4o-mini-tts": "grok-voice-latest",
    "whisper-1": "grok-stt",
    "gpt-4o-transcribe": "grok-stt",
}

#: Modes each pool's accounts can use: a model is available only while a live account of one
#: of its pools can use its mode.
POOL_MODES: dict[str, frozenset[str]] = {
    B: frozenset({"fast", CONSOLE_MODE}),
    S: frozenset({"auto", "fast", "expert", "grok-420-computer-use-sa", CONSOLE_MODE}),
    H: frozenset({"auto", "fast", "expert", "heavy", "grok-420-computer-use-sa", CONSOLE_MODE}),
}

#: Capabilities this build serves end to end.
SERVED_CAPABILITIES = frozenset({"chat", "image", "image_edit", "video", "speech",
                                 "transcription", "voice_token"})


class Catalogue:
    """Catalogue lookups filtered live by the settings `models.enabled` / `models.disabled`
    and by the capabilities this build serves."""

    @staticmethod
    def load(loader: Loader) -> None:
        loader.add_option("models.enabled", list[str], [],
                          "Model ids offered; empty = every model of the catalogue.")
        loader.add_option("models.disabled", list[str], [],
                          "Model ids hidden and refused even when listed in `enabled`.")
        loader.add_option("models.list_aliases", bool, False,
                          "List the older model names (`grok-4`, `grok-3-mini`, …) in "
                          "/v1/models beside the models they stand for. They are accepted "
                          "either way.")

    def __init__(self, settings: Any) -> None:
        self._by_id = {m.id: m for m in (*CATALOGUE, *CONSOLE_MODELS)}
        self.settings = settings

    def is_enabled(self, spec: ModelSpec) -> bool:
        if spec.capability not in SERVED_CAPABILITIES:
            return False
        models = self.settings.options.models
        if spec.id in models.disabled:
            return False
        enabled = models.enabled
        return not enabled or spec.id in enabled

    def resolve(self, model_id: str) -> ModelSpec | None:
        spec = self._by_id.get(model_id) or self._by_id.get(ALIASES.get(model_id, ""))
        return spec if spec is not None and self.is_enabled(spec) else None

    def models(self) -> list[ModelSpec]:
        """The listed models (hidden aliases are only resolved)."""
        return [m for m in (*CATALOGUE, *CONSOLE_MODELS) if m.listed and self.is_enabled(m)]

    def aliases_of(self, model_id: str) -> list[str]:
        """The older names that stand for `model_id`."""
        return [alias for alias, target in ALIASES.items() if target == model_id]

    @staticmethod
    def usable_pools(spec: ModelSpec, mode: str | None = None) -> tuple[str, ...]:
        mode = mode or spec.mode
        return tuple(p for p in spec.pools if mode in POOL_MODES[p])
