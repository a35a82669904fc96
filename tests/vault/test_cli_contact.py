"""``kluis inbox``, ``contacts``, ``mute``/``block``, ``erase``, ``erasures`` (no running node)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from protocol import (
    CONTACT_GRAMMAR,
    Ack,
    ContactMessage,
    ContactPolicy,
    Identity,
    dump_message,
    new_id,
    new_nonce,
    sign,
)
from protocol.clock import now_ms
from tests.conftest import PASSPHRASE
from vault.cli.exits import EXIT_ERROR
from vault.services.contact_service import ContactService
from vault.services.grantbook import GrantBook
from vault.store.hpke import HpkeKeyPair
from vault.store.vault import Vault

from .access_helpers import access_request
from .serving import answer


def _setup(home: Path) -> tuple[str, str]:
    biz = Identity.generate()
    key = HpkeKeyPair.generate()
    with Vault.create(home, PASSPHRASE) as v:
        grants = GrantBook(v)
        req = access_request(
            biz,
            v.peer_id,
            ["contact.email"],
            actions=("contact", "read"),
            contact=ContactPolicy.of([("service", 5, 30)]),
            hpke_key=key.public_hex(),
        )
        grants.submit(req)
        gid = grants.approve(req.request_id).grant_id
        svc = ContactService(v, grants)
        msg = sign(
            ContactMessage(
                message_id=new_id(),
                grant_id=gid,
                requester=biz.peer_id,
                vault=v.peer_id,
                category="service",
                mailing_id="orders",
                subject="Your order shipped",
                body="It arrives Tuesday.",
                nonce=new_nonce(),
                ts=now_ms(),
            ),
            biz,
        )
        reply = answer(svc, biz.peer_id, dump_message(msg), CONTACT_GRAMMAR)
        assert isinstance(reply, Ack) and reply.ref == msg.message_id
    return biz.peer_id, msg.message_id


def test_inbox_contacts_mute_erase_erasures(home: Path, cli: Callable[..., Result], tmp_path: Path):
    peer, mid = _setup(home)
    res = cli("inbox", "--json")
    assert res.exit_code == 0, res.output
    [m] = json.loads(res.output)["messages"]
    assert m["subject"] == "Your order shipped" and m["read_at"] is None
    res = cli("inbox", "read", mid)
    assert res.exit_code == 0 and "It arrives Tuesday." in res.output
    res = cli("contacts", "--json")
    [row] = json.loads(res.output)["businesses"]
    assert row["read"] == 1 and row["mailings"][0]["yield_pct"] == 100
    assert cli("mute", peer).exit_code == 0
    assert json.loads(cli("inbox", "--json").output)["messages"] == []
    assert len(json.loads(cli("inbox", "--all", "--json").output)["messages"]) == 1
    assert cli("block", peer).exit_code == 0
    assert "blocked" in cli("contacts").output
    res = cli("erase", peer)
    assert res.exit_code == 0, res.output
    assert "pending" in res.output
    data = json.loads(cli("erasures", "--json").output)
    [e] = data["erasures"]
    assert e["status"] == "pending" and e["receipt"] is None
    out = tmp_path / "erasures.json"
    assert cli("erasures", "--export", str(out)).exit_code == 0
    assert json.loads(out.read_text())[0]["request"]["type"] == "erase_request"
    # the request waits, sealed, in the outbox for the node to deliver
    with Vault.open(home, PASSPHRASE) as v:
        from vault.services.outbox import Outbox

        kinds = [i.kind for i in Outbox(v).pending(peer)]
    # the mute is told (shared by default, D43); the read is not (reads are shared only by choice)
    assert kinds == ["contact_signal", "revoke_notice", "erase_request"]


def test_erase_needs_a_business_or_all(home: Path, cli: Callable[..., Result]):
    _setup(home)
    assert cli("erase").exit_code != 0
    res = cli("erase", Identity.generate().peer_id)
    assert res.exit_code == EXIT_ERROR and "no grants" in res.output
    assert cli("inbox", "read", "nope").exit_code == EXIT_ERROR


def test_local_operations_match_the_table_and_unknown_ones_fail_loudly(home: Path):
    """The CLI's local mapping names operations of the one table; anything else is a bug.

    (It replaced a mini-router whose last ``else`` turned any path it did not know
    into an erasure request.)
    """
    import pytest

    from vault.api.spec import OPERATIONS
    from vault.cli import contact

    served = {op.handler for op in OPERATIONS if op.tag in ("contact", "erasure")}
    assert set(contact._local_operations()) == served
    _setup(home)
    for unknown in ("erasures", "delete_everything", ""):
        with pytest.raises(KeyError):
            contact._call(home, None, unknown, body={"all": True})
    with Vault.open(home, PASSPHRASE) as v:  # nothing was erased on the way
        from vault.services.erasure import ErasureBook

        assert ErasureBook(v).records() == []


def test_share_and_mute_a_category(home: Path, cli: Callable[..., Result]):
    peer, mid = _setup(home)
    shown = json.loads(cli("share", peer, "--json").output)  # no options: shows the defaults
    assert (shown["share_reads"], shown["share_mutes"]) == (False, True)
    res = cli("share", peer, "--reads", "--no-mutes")
    assert res.exit_code == 0 and "mutes not told, shares reads" in res.output
    res = cli("mute", peer, "--category", "offer")
    assert res.exit_code == 0 and "muted: offer" in res.output
    [row] = json.loads(cli("contacts", "--json").output)["businesses"]
    assert row["muted_categories"] == ["offer"] and row["muted"] is False
    assert row["share_reads"] is True and row["share_mutes"] is False
    assert len(json.loads(cli("inbox", "--json").output)["messages"]) == 1  # a service message
    assert cli("mute", peer, "--category", "service").exit_code == 0
    assert json.loads(cli("inbox", "--json").output)["messages"] == []
    assert cli("unmute", peer, "--category", "service").exit_code == 0
    assert cli("mute", peer, "--category", "spam").exit_code == 2
    assert cli("inbox", "read", mid).exit_code == 0
    with Vault.open(home, PASSPHRASE) as v:
        from vault.services.outbox import Outbox

        kinds = [i.kind for i in Outbox(v).pending(peer)]
    # sharing on is told, and the read after it; the mutes are not (mutes not told)
    assert kinds == ["contact_signal", "contact_signal"]
