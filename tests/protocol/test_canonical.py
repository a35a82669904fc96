"""Canonical JSON: one encoding per value (RFC 8785's); floats, NaN, big integers and
duplicate keys refused."""

from __future__ import annotations

import json
from enum import IntEnum

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import CanonicalError, MalformedFrame, canonical_dumps, canonical_loads
from protocol.limits import MAX_INT

#: Any text but lone surrogates (which are not Unicode), astral characters included.
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))
#: Keys, with extra weight on the characters where UTF-16 order and code-point
#: order disagree (U+E000..U+FFFF against U+10000 and above).
keys = st.text(st.characters(blacklist_categories=("Cs",)), max_size=5) | st.text(
    st.sampled_from("a\u00e9\ue000\uffff\U00010000\U0001f600"), max_size=3
)
#: The value space we sign: JSON without floats, integers within ±(2**53 - 1).
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_INT, MAX_INT) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200)
@given(json_values)
def test_round_trip(value: object) -> None:
    data = canonical_dumps(value)
    assert canonical_loads(data) == value
    assert canonical_dumps(canonical_loads(data)) == data


@settings(max_examples=100)
@given(st.dictionaries(st.text(max_size=5), st.integers(-MAX_INT, MAX_INT), max_size=6))
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


@settings(max_examples=300)
@given(json_values)
def test_is_rfc8785(value: object) -> None:
    """The same bytes as an independent JCS implementation, over every value we allow."""
    assert canonical_dumps(value) == rfc8785.dumps(value)


def test_keys_sort_by_utf16_code_units() -> None:
    # U+10000 is the surrogate pair D800 DC00 in UTF-16, so it sorts before U+E000,
    # though its code point is larger.
    value = {"\ue000": 1, "\U00010000": 2, "a": {"\U0001f600": 3, "\uffff": 4}}
    assert canonical_dumps(value) == (
        '{"a":{"\U0001f600":3,"\uffff":4},"\U00010000":2,"\ue000":1}'.encode()
    )
    assert canonical_dumps(value) == rfc8785.dumps(value)
    assert canonical_loads(canonical_dumps(value)) == value


class Big(IntEnum):
    TOO_BIG = MAX_INT + 1


@pytest.mark.parametrize("n", [MAX_INT, -MAX_INT, 0])
def test_integers_up_to_2_53_minus_1(n: int) -> None:
    assert canonical_loads(canonical_dumps({"n": [n]})) == {"n": [n]}


@pytest.mark.parametrize(
    "value",
    [MAX_INT + 1, -MAX_INT - 1, 2**64, {"a": MAX_INT + 1}, [1, [-(2**63)]], (2**53,), Big.TOO_BIG],
)
def test_bigger_integers_are_refused(value: object) -> None:
    with pytest.raises(CanonicalError, match="2\\*\\*53"):
        canonical_dumps(value)


@pytest.mark.parametrize("data", [b"9007199254740992", b'{"a":[-9007199254740992]}', b"1" * 40])
def test_bigger_integers_are_refused_on_decode(data: bytes) -> None:
    with pytest.raises(CanonicalError):
        canonical_loads(data)


@pytest.mark.parametrize("value", ["\ud800", {"k": ["x\udfff"]}, {"\udc00": 1}])
def test_lone_surrogates_are_refused(value: object) -> None:
    with pytest.raises(CanonicalError):
        canonical_dumps(value)
