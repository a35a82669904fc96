"""Canonical JSON: one encoding per value; floats, NaN and duplicate keys refused."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import CanonicalError, MalformedFrame, canonical_dumps, canonical_loads

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",))),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200)
@given(json_values)
def test_round_trip(value: object) -> None:
    data = canonical_dumps(value)
    assert canonical_loads(data) == value
    assert canonical_dumps(canonical_loads(data)) == data


@settings(max_examples=100)
@given(st.dictionaries(st.text(max_size=5), st.integers(), max_size=6))
def test_non_canonical_input_is_recanonicalised(value: dict[str, int]) -> None:
    loose = json.dumps(value, indent=3, sort_keys=False).encode()
    assert canonical_dumps(canonical_loads(loose)) == canonical_dumps(value)


def test_sorted_compact_utf8() -> None:
    assert (
        canonical_dumps({"b": 1, "a": [True, None, "é"]}) == '{"a":[true,null,"é"],"b":1}'.encode()
    )


@pytest.mark.parametrize(
    "data",
    [
        b"1.5",
        b'{"a":1e3}',
        b"NaN",
        b"[Infinity]",
        b'{"a":1,"a":2}',
        b"\xff",
        b"{",
        b"[" * 100 + b"]" * 100,
    ],
)
def test_loads_refuses(data: bytes) -> None:
    with pytest.raises(CanonicalError):
        canonical_loads(data)


@pytest.mark.parametrize("value", [1.0, {"a": float("nan")}, {1: "x"}, b"bytes", {"a": object()}])
def test_dumps_refuses(value: object) -> None:
    with pytest.raises(CanonicalError):
        canonical_dumps(value)


def test_canonical_error_is_a_malformed_frame() -> None:
    assert issubclass(CanonicalError, MalformedFrame)
