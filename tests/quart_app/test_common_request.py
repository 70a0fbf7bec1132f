"""Shared request rules: stop sequences."""
from __future__ import annotations

import pytest

from addons.errors import ApiError
from quart_app.dialects.common_request import MAX_STOP_LENGTH, stop_list


def test_stop_accepts_a_string_or_an_array_and_drops_repeats() -> None:
    assert stop_list({}, "stop", allow_string=True) == []
    assert stop_list({"stop": None}, "stop", allow_string=True) == []
    assert stop_list({"stop": "END"}, "stop", allow_string=True) == ["END"]
    assert stop_list({"stop": ["a", "b", "a"]}, "stop", allow_string=True) == ["a", "b"]


@pytest.mark.parametrize("value", ["END", [""], [1], {"a": 1}, ["x" * (MAX_STOP_LENGTH + 1)],
                                   [str(i) for i in range(65)]])
def test_bad_stop_sequences_are_400_naming_the_field(value) -> None:
    with pytest.raises(ApiError) as info:
        stop_list({"stop_sequences": value}, "stop_sequences", allow_string=False)
    assert info.value.status == 400 and info.value.param == "stop_sequences"
