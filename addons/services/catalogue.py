"""The public model catalogue and model-to-mode routing.

Static data: which upstream mode a model uses, its capability, and the account pools it may
be served from, in the order they are tried.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
}

#: Modes each pool's accounts can use: a model is available only while a live account of one
#: of its pools can use its mode.
POOL_MODES: dict[str, frozenset[str]] = {
    B: frozenset({"fast"}),
    S: frozenset({"auto", "fast", "expert", "grok-420-computer-use-sa"}),
    H: frozenset({"auto", "fast", "expert", "heavy", "grok-420-computer-use-sa"}),
}

#: Capabilities this build serves end to end.
SERVED_CAPABILITIES = frozenset({"chat", "image", "image_edit", "video"})


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
        self._by_id = {m.id: m for m in CATALOGUE}
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
        return [m for m in CATALOGUE if self.is_enabled(m)]

    def aliases_of(self, model_id: str) -> list[str]:
        """The older names that stand for `model_id`."""
        return [alias for alias, target in ALIASES.items() if target == model_id]

    @staticmethod
    def usable_pools(spec: ModelSpec, mode: str | None = None) -> tuple[str, ...]:
        mode = mode or spec.mode
        return tuple(p for p in spec.pools if mode in POOL_MODES[p])
