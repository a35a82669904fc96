"""Id prefixes as git takes them, and the short ids tables show (vault/cli/prefixes.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.cli.prefixes import MIN_SHOWN, AmbiguousId, resolve, shortener

IDS = ["3f9a0c11aa", "3f9a77bb00", "c0ffee0000"]


def test_exact_unique_ambiguous_and_unknown() -> None:
    assert resolve("grant", "3f9a0c11aa", IDS) == "3f9a0c11aa"
    assert resolve("grant", "3f9a0", IDS) == "3f9a0c11aa"
    assert resolve("grant", "c0ff", IDS) == "c0ffee0000"
    with pytest.raises(
        AmbiguousId, match=r"grant id '3f9a' is ambiguous: 2 match \(3f9a0c11aa, 3f9a77bb00\)"
    ):
        resolve("grant", "3f9a", IDS)
    assert resolve("grant", "dead", IDS) == "dead"  # the node says it does not know it
    assert resolve("grant", "c0f", IDS) == "c0f"  # too short to be a prefix


@given(st.lists(st.text("0123456789abcdef", min_size=16, max_size=16), max_size=40))
def test_short_ids_are_unique_and_resolve_back(ids: list[str]) -> None:
    short = shortener(ids)
    shown = {short(i) for i in set(ids)}
    assert len(shown) == len(set(ids))
    for full in set(ids):
        assert len(short(full)) >= min(MIN_SHOWN, len(full))
        assert resolve("rule", short(full), ids) == full
