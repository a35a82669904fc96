"""Field paths, patterns and scopes; narrowing can only take away."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from protocol import Action, Scope, ScopeError, is_subset, narrow, path_in_scope, select_paths
from protocol.scopes import is_valid_path, is_valid_pattern, pattern_covers

from .strategies import paths, patterns, scopes


@pytest.mark.parametrize(
    ("pattern", "path", "covered"),
    [
        ("contact.email", "contact.email", True),
        ("contact.email", "contact.email2", False),
        ("contact.email", "contact", False),
        ("address.*", "address.city", True),
        ("address.*", "address.home.city", True),
        ("address.*", "address", False),
        ("address.*", "addresses.city", False),
        ("address.*", "address.home.*", True),
        ("address.*", "address.*", True),
        ("address.home.*", "address.*", False),
        ("address.city", "address.*", False),
    ],
)
def test_pattern_covers(pattern: str, path: str, covered: bool) -> None:
    assert pattern_covers(pattern, path) is covered


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "Contact",
        "a..b",
        ".a",
        "a.",
        "a b",
        "a.*.b",
        "*",
        "a-b",
        "é",
        "a\n",
        "a." * 10 + "a",
        "a" * 129,
    ],
)
def test_invalid_paths(bad: str) -> None:
    assert not is_valid_path(bad)
    assert not is_valid_pattern(bad)
    assert not path_in_scope(bad, Scope.of(["a.*", "a"]))


def test_limits() -> None:
    assert is_valid_path(".".join(["a"] * 8))
    assert not is_valid_path(".".join(["a"] * 9))
    assert is_valid_path("a" * 128)
    with pytest.raises(ValidationError):
        Scope.of([f"f{i}" for i in range(65)])
    Scope.of([f"f{i}" for i in range(64)])


def test_scope_is_canonical() -> None:
    s = Scope.of(["b", "a", "b"], ["subscribe", "read", "read"])
    assert s.fields == ("a", "b")
    assert s.actions == (Action.READ, Action.SUBSCRIBE)
    with pytest.raises(ValidationError):
        Scope(fields=("b", "a"), actions=(Action.READ,))
    with pytest.raises(ValidationError):
        Scope(fields=("a",), actions=())
    with pytest.raises(ValidationError):
        Scope(fields=(), actions=(Action.READ,))


@settings(max_examples=200)
@given(scopes, st.data())
def test_narrow_is_always_a_subset(scope: Scope, data: st.DataObject) -> None:
    fields = data.draw(st.lists(st.sampled_from(scope.fields), min_size=1))
    acts = data.draw(st.lists(st.sampled_from(scope.actions), min_size=1) | st.none())
    narrowed = narrow(scope, fields, acts)
    assert is_subset(narrowed, scope)
    assert is_subset(scope, scope)


@settings(max_examples=200)
@given(scopes, st.lists(patterns, min_size=1, max_size=4))
def test_narrow_never_widens(scope: Scope, fields: list[str]) -> None:
    try:
        narrowed = narrow(scope, fields)
    except ScopeError:
        assert not all(path_in_scope(f, scope) for f in fields)
    else:
        assert is_subset(narrowed, scope)


@settings(max_examples=200)
@given(scopes, scopes, paths)
def test_subset_means_every_path_is_covered(a: Scope, b: Scope, path: str) -> None:
    if is_subset(a, b) and path_in_scope(path, a):
        assert path_in_scope(path, b)


def test_narrow_refuses_to_widen() -> None:
    scope = Scope.of(["address.*", "contact.email"], ["read"])
    assert narrow(scope, ["address.home.city"]).fields == ("address.home.city",)
    with pytest.raises(ScopeError):
        narrow(scope, ["contact.phone"])
    with pytest.raises(ScopeError):
        narrow(scope, ["contact.*"])
    with pytest.raises(ScopeError):
        narrow(scope, ["address.*"], ["subscribe"])
    with pytest.raises(ScopeError):
        narrow(scope, [])
    with pytest.raises(ScopeError):
        narrow(scope, ["Bad"])


def test_select_paths() -> None:
    have = ["address.city", "address.home.zip", "contact.email", "contact.phone", "Bad"]
    assert select_paths(have, ["address.*", "contact.email"]) == [
        "address.city",
        "address.home.zip",
        "contact.email",
    ]
