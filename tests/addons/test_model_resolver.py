"""Model resolution: the request's model id to its catalogue entry, or a 400 naming `model`."""
from __future__ import annotations

import pytest

from addons.errors import ApiError
from addons.model_resolver import ModelResolver
from addons.services.catalogue import Catalogue
from addons.testflow import tflow
from state.settings import Settings


@pytest.fixture
def settings(tmp_path):
    return Settings(tmp_path / "config.toml", environ={})


def resolve(settings, model: str):
    flow = tflow(model=model)
    ModelResolver(Catalogue(settings)).request(flow)
    return flow.model


def test_a_known_model_resolves_to_its_spec(settings):
    spec = resolve(settings, "grok-4.20-expert")
    assert (spec.id, spec.capability, spec.mode) == ("grok-4.20-expert", "chat", "expert")
    assert spec.pools == ("heavy", "super")


def test_an_old_alias_resolves_to_the_current_model(settings):
    assert resolve(settings, "grok-4").id == "grok-4.20-auto"


def assert_not_found(settings, model: str) -> None:
    with pytest.raises(ApiError) as info:
        resolve(settings, model)
    err = info.value
    assert (err.status, err.param, err.code) == (400, "model", "model_not_found")
    assert model in err.message


def test_an_unknown_model_is_a_400_naming_the_model_param(settings):
    assert_not_found(settings, "grok-9-ultra")


def test_a_disabled_model_is_not_found(settings):
    settings.set("models.disabled", ["grok-4.20-heavy"])
    assert_not_found(settings, "grok-4.20-heavy")
    assert resolve(settings, "grok-4.20-fast").id == "grok-4.20-fast"


def test_models_enabled_restricts_the_catalogue(settings):
    settings.set("models.enabled", ["grok-4.20-fast"])
    assert resolve(settings, "grok-4.20-fast").id == "grok-4.20-fast"
    assert_not_found(settings, "grok-4.20-auto")


def test_a_model_of_a_capability_this_build_does_not_serve_is_not_found(settings, monkeypatch):
    from addons.services import catalogue

    assert Catalogue(settings).resolve("grok-imagine-video") is not None  # served
    monkeypatch.setattr(catalogue, "SERVED_CAPABILITIES", frozenset({"chat"}))
    assert_not_found(settings, "grok-imagine-video")


def test_a_media_model_on_a_chat_only_endpoint_is_a_400_naming_model(settings, monkeypatch):
    from addons.services import catalogue

    monkeypatch.setattr(catalogue, "SERVED_CAPABILITIES", frozenset({"chat", "image"}))
    with pytest.raises(ApiError) as info:
        resolve(settings, "grok-imagine-image")
    err = info.value
    assert (err.status, err.param, err.code) == (400, "model", "model_not_supported")
    assert "image model" in err.message
