"""The owner's view of businesses: labels, domain checks, petnames, change flags, look-alikes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol import Identity
from protocol.business import well_known_document
from tests.conftest import ManualClock
from vault.services.domain_check import DomainVerifier
from vault.services.grantbook import GrantBook, NotFound
from vault.services.identity import BusinessBook, InvalidPetname
from vault.store.vault import Vault

from ..protocol.business_helpers import profile
from .access_helpers import access_request
from .conftest import PASSPHRASE
from .https_helpers import https_server

BIZ = Identity(b"\x31" * 32)
COPYCAT = Identity(b"\x32" * 32)
ANON = Identity(b"\x33" * 32)


@pytest.fixture
def book(tmp_path: Path) -> Iterator[tuple[Vault, GrantBook]]:
    with Vault.create(tmp_path / "v", PASSPHRASE, clock=ManualClock()) as v:
        yield v, GrantBook(v)


def ask(grants: GrantBook, who: Identity, **profile_changes: object) -> None:
    grants.submit(access_request(who, grants.peer_id, business=profile(who, **profile_changes)))


def test_a_business_without_a_profile_is_unverified(book: tuple[Vault, GrantBook]) -> None:
    vault, grants = book
    names = BusinessBook(vault, grants)
    grants.submit(access_request(ANON, grants.peer_id))
    label = names.label(ANON.peer_id)
    assert (
        label.profile is None
        and label.text == f"{ANON.peer_id[:8]}…{ANON.peer_id[-6:]} (unverified)"
    )
    assert label.reason == "the business sent no profile"


def test_change_is_flagged_until_seen(book: tuple[Vault, GrantBook]) -> None:
    vault, grants = book
    names = BusinessBook(vault, grants)
    ask(grants, BIZ)
    assert names.changed(BIZ.peer_id) is False  # the first profile is the baseline
    ask(grants, BIZ, issued_at=2_000_000_000_000)  # re-signed, same facts: no change
    assert names.changed(BIZ.peer_id) is False
    ask(grants, BIZ, issued_at=2_000_000_000_001, privacy_policy_url="https://despaak.nl/p2")
    label = names.label(BIZ.peer_id)
    assert label.changed and "[profile changed]" in label.text
    assert names.previous(BIZ.peer_id).privacy_policy_url == "https://despaak.nl/privacy"  # type: ignore[union-attr]
    assert not names.mark_seen(BIZ.peer_id).changed
    # the owner's "seen" survives a restart (sealed note); the index is rebuilt from requests
    again = BusinessBook(vault, GrantBook(vault))
    assert again.changed(BIZ.peer_id) is False
    assert again.profile(BIZ.peer_id).privacy_policy_url.endswith("/p2")  # type: ignore[union-attr]


def test_an_older_profile_does_not_replace_a_newer_one(book: tuple[Vault, GrantBook]) -> None:
    vault, grants = book
    names = BusinessBook(vault, grants)
    ask(grants, BIZ, issued_at=2_000_000_000_000, display_name="New Name")
    ask(grants, BIZ, issued_at=1_000_000_000_000, display_name="Old Name")
    assert names.label(BIZ.peer_id).display_name == "New Name"


def test_petnames(book: tuple[Vault, GrantBook]) -> None:
    vault, grants = book
    names = BusinessBook(vault, grants)
    ask(grants, BIZ)
    label = names.set_petname(BIZ.peer_id, "my bike shop")
    assert label.name == "my bike shop"
    assert label.text.startswith("my bike shop · Fietsenwinkel De Spaak (")
    assert BusinessBook(vault, GrantBook(vault)).label(BIZ.peer_id).petname == "my bike shop"
    assert names.set_petname(BIZ.peer_id, "").petname is None
    for bad in ("evil\u202eplh", "tab\there", "x" * 65):
        with pytest.raises(InvalidPetname):
            names.set_petname(BIZ.peer_id, bad)
    with pytest.raises(NotFound):
        names.set_petname(COPYCAT.peer_id, "never asked")
    kinds = [e.kind for e in vault.audit.entries()]
    assert "business.petname" in kinds
    assert not any("bike" in str(e.to_json()) for e in vault.audit.entries())


def test_look_alike_names_are_flagged(book: tuple[Vault, GrantBook]) -> None:
    vault, grants = book
    names = BusinessBook(vault, grants)
    ask(grants, BIZ)
    ask(grants, COPYCAT, display_name="Fietsenwinkel De Spааk")  # Cyrillic а
    copy = names.label(COPYCAT.peer_id)
    assert set(copy.flags) == {"mixed_script", "same_name_as_another"}
    assert "[name mixes alphabets]" in copy.text
    assert names.label(BIZ.peer_id).flags == ("same_name_as_another",)


async def test_a_request_starts_a_domain_check_in_the_background(
    book: tuple[Vault, GrantBook],
) -> None:
    vault, grants = book
    async with https_server() as srv:
        srv.publish("despaak.nl", well_known_document(BIZ.peer_id))
        srv.publish("other.example", well_known_document(BIZ.peer_id))  # not COPYCAT's
        verifier = DomainVerifier(vault.clock, ssl_context=srv.client_ssl, resolver=srv.resolver())
        names = BusinessBook(vault, grants, verifier)
        try:
            ask(grants, BIZ)
            ask(grants, COPYCAT, display_name="Other", website="https://other.example")
            assert names.label(BIZ.peer_id).status_text == "checking: despaak.nl"
            await asyncio.gather(*verifier._running.values())
            assert names.label(BIZ.peer_id).text == "Fietsenwinkel De Spaak (verified: despaak.nl)"
            other = names.label(COPYCAT.peer_id)
            assert other.text == "Other (unverified)"
            assert "another peer" in other.reason
            assert [b.peer_id for b in names.businesses()] == [BIZ.peer_id, COPYCAT.peer_id]
        finally:
            await verifier.aclose()
