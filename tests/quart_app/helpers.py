"""Shared stand-ins for the request-parser tests."""
from state.options import FixedSettings


def Settings(stream=False, thinking=True):  # noqa: N802 - used like the class it stood for
    return FixedSettings({"features.stream": stream, "features.thinking": thinking})
