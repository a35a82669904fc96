"""Owner rules: first match wins, approve only wholly inside, known-peer condition."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from protocol import Identity, PurposeCode
from tests.conftest import PASSPHRASE, ManualClock
from vault.services.rules import RequesterCondition, Rule, RuleAction, RuleBook
from vault.store.vault import Vault

from .access_helpers import access_request

ALICE = Identity.generate()
BOB = Identity.generate()


@pytest.fixture
def cvault(home: Path) -> Iterator[Vault]:
    with Vault.create(home, PASSPHRASE, clock=ManualClock()) as v:
        yield v


def approve_email_known() -> Rule:
    return Rule(
        action=RuleAction.APPROVE,
        fields=("contact.email",),
        purposes=(PurposeCode.SERVICE_PROVISION,),
        requester=RequesterCondition.KNOWN,
        max_days=14,
    )


def test_approve_only_wholly_inside(cvault: Vault) -> None:
    rule = approve_email_known()
    inside = access_request(ALICE, cvault.peer_id, ["contact.email"])
    wider = access_request(ALICE, cvault.peer_id, ["contact.email", "name.given"])
    assert rule.matches(inside, known=True)
    assert not rule.matches(wider, known=True)
    assert not rule.matches(inside, known=False)  # requester condition
    other_purpose = access_request(
        ALICE, cvault.peer_id, ["contact.email"], purpose=PurposeCode.MARKETING
    )
    assert not rule.matches(other_purpose, known=True)
    with_contact = access_request(ALICE, cvault.peer_id, ["contact.email"], actions=["contact"])
    assert not rule.matches(with_contact, known=True)  # actions must be inside too
    assert rule.days_for(inside) == 14
    subtree = Rule(action=RuleAction.APPROVE, fields=("address.*",))
    assert subtree.matches(access_request(ALICE, cvault.peer_id, ["address.home.city"]), known=0)
    assert not subtree.matches(
        access_request(ALICE, cvault.peer_id, ["address.*", "name.given"]), known=False
    )


def test_deny_rules_and_first_match_wins(cvault: Vault) -> None:
    book = RuleBook(cvault)
    deny_marketing = book.add(Rule(action=RuleAction.DENY, purposes=(PurposeCode.MARKETING,)))
    approve = book.add(Rule(action=RuleAction.APPROVE, fields=("contact.*",)))
    mkt = access_request(ALICE, cvault.peer_id, ["contact.email"], purpose=PurposeCode.MARKETING)
    m = book.match(mkt, known=False)
    assert m is not None and m.rule == deny_marketing and m.decided_by.startswith("rule:")
    svc = access_request(ALICE, cvault.peer_id, ["contact.email"])
    m = book.match(svc, known=False)
    assert m is not None and m.rule == approve
    assert book.match(access_request(ALICE, cvault.peer_id, ["name.given"]), known=False) is None
    deny_name = Rule(action=RuleAction.DENY, fields=("name.*",))
    assert deny_name.matches(
        access_request(ALICE, cvault.peer_id, ["name.given", "x.y"]), known=False
    )


def test_explicit_peers(cvault: Vault) -> None:
    rule = Rule(
        action=RuleAction.APPROVE,
        fields=("contact.email",),
        requester=RequesterCondition.PEERS,
        peers=(BOB.peer_id,),
    )
    assert rule.matches(access_request(BOB, cvault.peer_id, ["contact.email"]), known=False)
    assert not rule.matches(access_request(ALICE, cvault.peer_id, ["contact.email"]), known=True)


def test_invalid_rules() -> None:
    with pytest.raises(ValidationError):
        Rule(action=RuleAction.APPROVE)  # approve needs fields
    with pytest.raises(ValidationError):
        Rule(action=RuleAction.DENY, requester=RequesterCondition.PEERS)  # peers missing
    with pytest.raises(ValidationError):
        Rule(action=RuleAction.DENY, fields=("*",))


def test_persisted_and_removed(home: Path) -> None:
    with Vault.create(home, PASSPHRASE, clock=ManualClock()) as v:
        book = RuleBook(v)
        a = book.add(approve_email_known())
        b = book.add(Rule(action=RuleAction.DENY, purposes=(PurposeCode.MARKETING,)))
        c = book.add(Rule(action=RuleAction.DENY, fields=("name.*",)))
        book.remove(b.rule_id)
        assert [e.kind for e in v.audit.entries()][-4:] == [
            "rule.add",
            "rule.add",
            "rule.add",
            "rule.remove",
        ]
    with Vault.open(home, PASSPHRASE) as v:
        assert RuleBook(v).rules() == [a, c]
