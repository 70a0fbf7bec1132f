import pytest

from addons.auth import Auth, client_key
from addons.errors import ApiError
from addons.testflow import tflow
from state.options import FixedSettings


def Settings(keys):  # noqa: N802 - used like the class it stood for
    return FixedSettings({"app.api_key": keys})


def flow(headers):
    return tflow(headers=headers)


def test_open_mode_accepts_anything():
    f = flow({})
    Auth(Settings([])).requestheaders(f)
    assert f.api_key is None


@pytest.mark.parametrize("headers", [
    {"authorization": "Bearer k2"}, {"authorization": "bearer k2"}, {"x-api-key": "k1"},
    {"authorization": "Bearer k1", "x-api-key": "wrong"},
])
def test_valid_keys(headers):
    f = flow(headers)
    Auth(Settings(["k1", "k2"])).requestheaders(f)
    assert f.api_key in ("k1", "k2")


def test_bearer_wins_over_x_api_key():
    assert client_key({"authorization": "Bearer a", "x-api-key": "b"}) == "a"


def test_missing_key_is_401_missing_api_key():
    with pytest.raises(ApiError) as info:
        Auth(Settings(["k1"])).requestheaders(flow({}))
    assert (info.value.status, info.value.type, info.value.code) == (
        401, "authentication_error", "missing_api_key")


@pytest.mark.parametrize("headers", [{"authorization": "Bearer nope"}, {"x-api-key": "k"},
                                     {"authorization": "Basic k1"}])
def test_wrong_key_is_401_never_403(headers):
    with pytest.raises(ApiError) as info:
        Auth(Settings(["k1"])).requestheaders(flow(headers))
    assert info.value.status == 401
    assert info.value.code in ("invalid_api_key", "missing_api_key")
