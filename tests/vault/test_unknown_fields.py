"""Requests and rules for fields no profile has are refused (issue 14 §4, input checks)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol import Identity
from tests.conftest import PASSPHRASE
from tests.vault.access_helpers import access_request
from vault._exceptions import UnknownField
from vault.services.grantbook import GrantBook
from vault.services.rules import Rule, RuleBook, RuleError
from vault.store.schema import check_pattern
from vault.store.vault import Vault

ALICE = Identity.generate()


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[Vault]:
    with Vault.create(tmp_path / "home", PASSPHRASE) as v:
        yield v


@pytest.mark.parametrize(
    "pattern",
    ["contact.email", "address.home.city", "address.*", "address.home.*", "custom.shoe_size",
     "custom.*", "preferences.*", "contact.*"],
)  # fmt: skip
def test_patterns_the_schema_can_serve(pattern: str) -> None:
    check_pattern(pattern)


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("totally.bogus", r"unknown field: totally\.bogus"),
        ("totally.*", "no such part of the profile"),
        ("contact.email.*", r"contact\.email is one field, with nothing below it"),
        ("address.city", "not a leaf"),
    ],
)
def test_patterns_no_profile_has(pattern: str, why: str) -> None:
    with pytest.raises(UnknownField, match=why):
        check_pattern(pattern)


def test_a_request_for_a_bogus_field_is_refused_and_not_kept(vault: Vault) -> None:
    book = GrantBook(vault)
    before = len(vault.audit)
    with pytest.raises(UnknownField, match=r"totally\.bogus"):
        book.submit(access_request(ALICE, vault.peer_id, ["contact.email", "totally.bogus"]))
    assert book.requests() == [] and len(vault.audit) == before
    assert book.submit(access_request(ALICE, vault.peer_id, ["contact.email"])).request


def test_a_rule_for_a_bogus_field_is_refused(vault: Vault) -> None:
    book = RuleBook(vault)
    with pytest.raises(RuleError, match=r"unknown field: totally\.bogus"):
        book.add(Rule(action="approve", fields=["totally.bogus"]))
    assert book.rules() == []
    book.add(Rule(action="approve", fields=["contact.email"]))
    assert len(book.rules()) == 1
