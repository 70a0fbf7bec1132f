"""Model resolution: the request's model id → its catalogue entry (upstream mode, pools)."""
from __future__ import annotations

from addons.services.catalogue import Catalogue
from addons.errors import ApiError
from addons.flow import Flow


class ModelResolver:
    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue

    def request(self, flow: Flow) -> None:
        model_id = flow.request.model
        spec = self.catalogue.resolve(model_id)
        if spec is None:
            raise ApiError(
                400,
                f"Model '{model_id}' does not exist or you do not have access to it.",
                type="validation_error",
                code="model_not_found",
                param="model",
            )
        if spec.capability != flow.request.kind:
            # e.g. an image model on /v1/messages: that dialect only carries chat jobs
            raise ApiError(400, f"Model '{model_id}' is a {spec.capability.replace('_', ' ')} "
                           f"model; this endpoint serves {flow.request.kind.replace('_', ' ')} "
                           f"models", type="validation_error", code="model_not_supported",
                           param="model")
        flow.model = spec
