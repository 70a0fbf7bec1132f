"""Shared stand-ins for the request-parser tests."""


class Settings:
    def __init__(self, stream=False, thinking=True):
        self.values = {"features.stream": stream, "features.thinking": thinking}

    def bool(self, key):
        return self.values[key]
