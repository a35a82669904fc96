"""Receiving granted data: reads (pull), subscriptions (push), and the sealed copy they feed.

Every value received is merged into the grant's sealed local copy
(:mod:`._copies`) before the caller sees it, and only while the grant is
active: a grant revoked while a read was in flight keeps nothing. Each access
first passes the local check of the revocation contract
(:meth:`~vault.requester._revocation.Revocation.check_local`), so a dead grant
costs no network call, and a refusal is applied locally before it is raised
(:meth:`~vault.requester._revocation.Revocation.refused`).

A subscription is a stream of its own, run by the access grammar's state
machine: ``subscribe``, then ``ack``, then ``update``\\ s until the vault sends
``revoke_notice`` (the contract runs, receipt included, and the iteration
ends) or an ``error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence

from protocol import (
    ACCESS_GRAMMAR,
    Ack,
    Action,
    ConnectionBroken,
    Error,
    FieldRecord,
    Read,
    ReadResult,
    RevokeNotice,
    Subscribe,
    UnexpectedMessage,
    Update,
    new_nonce,
    sign,
)
from protocol.scopes import pattern_covers
from vault.requester._book import GrantRecord, GrantStatus
from vault.requester._link import VaultLink
from vault.requester._local import GrantRef, Local
from vault.requester._receipts import ReceiptSender
from vault.requester._resubscribe import missed, resilient
from vault.requester._revocation import Revocation

__all__ = ["Reader"]

log = logging.getLogger(__name__)


class Reader:
    """Reads, subscriptions and pushed updates, for the requester's grants."""

    def __init__(
        self, local: Local, link: VaultLink, revocation: Revocation, receipts: ReceiptSender
    ) -> None:
        self._local = local
        self._link = link
        self._revocation = revocation
        self._receipts = receipts

    # -- reading ----------------------------------------------------------------------------

    async def read(
        self, rec: GrantRecord, fields: Iterable[str] | None, timeout: float
    ) -> dict[str, FieldRecord]:
        """Read granted fields (default: the whole grant) and merge them into the copy."""
        local = self._local
        wanted = self._revocation.check_local(rec, fields, Action.READ)

        def signed_read() -> Read:
            return sign(
                Read(
                    grant_id=rec.grant_id,
                    requester=local.peer_id,
                    fields=wanted,
                    nonce=new_nonce(),
                    ts=local.now(),
                ),
                local.identity,
            )

        link = self._link
        try:
            reply = await link.call(
                rec.vault_peer, rec.vault_addr, ACCESS_GRAMMAR, signed_read(), timeout
            )
        except ConnectionBroken:
            # The connection died under the request (a relay that went away, a vault
            # that restarted). A read changes nothing, so one fresh try, freshly
            # signed (the vault refuses a replayed nonce), on a fresh connection.
            reply = await link.call(
                rec.vault_peer, rec.vault_addr, ACCESS_GRAMMAR, signed_read(), timeout
            )
        if isinstance(reply, Error):
            raise self._revocation.refused(rec.grant_id, reply)
        if not isinstance(reply, ReadResult):  # pragma: no cover - the grammar allows no other
            raise UnexpectedMessage(f"a vault answered a read with {reply.type}")
        values = {
            path: value
            for path, value in reply.values.items()
            if any(pattern_covers(w, path) for w in wanted)
        }
        self._merge(rec.grant_id, wanted, values)
        return values

    def _merge(
        self, grant_id: str, wanted: tuple[str, ...], values: dict[str, FieldRecord]
    ) -> None:
        local = self._local
        rec = local.book.grant(grant_id)
        if rec.status(local.now()) is not GrantStatus.ACTIVE:
            return  # revoked while the read was in flight: keep nothing
        copy = local.copies.load(grant_id)
        for path in list(copy):  # what was asked and is not there any more has no value
            if path not in values and any(pattern_covers(w, path) for w in wanted):
                del copy[path]
        copy.update(values)
        with local.transaction():
            local.copies.save(grant_id, copy)
            local.audit.append(
                "requester.read",
                {"grant_id": grant_id, "asked": list(wanted), "fields": sorted(values)},
            )

    # -- subscribing ------------------------------------------------------------------------

    async def subscribe(
        self,
        grant: GrantRef,
        fields: Iterable[str] | None,
        timeout: float,
        on_subscribed: Callable[[], None] | None = None,
    ) -> AsyncIterator[Update]:
        """Yield updates as the owner makes them, each applied to the copy first.

        A broken stream (a relay's time limit, a vault that restarts or moves) is
        subscribed again, with what changed meanwhile yielded first
        (:mod:`._resubscribe`); a refusal or the revocation ends it at once.
        """
        rec = self._local.record(grant)
        wanted = self._revocation.check_local(rec, fields, Action.SUBSCRIBE)

        def once(catch_up: bool, subscribed: Callable[[], None]) -> AsyncIterator[Update]:
            def acked() -> None:
                subscribed()
                if on_subscribed is not None:
                    on_subscribed()

            return self._subscribe_once(rec, wanted, timeout, catch_up, acked)

        async for update in resilient(once, lambda: self._link.forget(rec.vault_peer)):
            yield update

    async def _subscribe_once(
        self,
        rec: GrantRecord,
        wanted: tuple[str, ...],
        timeout: float,
        catch_up: bool,
        subscribed: Callable[[], None],
    ) -> AsyncIterator[Update]:
        """One subscription stream; with ``catch_up``, first what changed since the copy."""
        local = self._local
        before = {p: r.version for p, r in local.copies.load(rec.grant_id).items()}
        stream = await self._link.open(rec.vault_peer, rec.vault_addr, ACCESS_GRAMMAR, timeout)
        try:
            msg = sign(
                Subscribe(
                    grant_id=rec.grant_id,
                    requester=local.peer_id,
                    fields=wanted,
                    nonce=new_nonce(),
                    ts=local.now(),
                ),
                local.identity,
            )
            await stream.send(msg)
            first = await asyncio.wait_for(stream.receive(), timeout)
            if isinstance(first, Error):
                raise self._revocation.refused(rec.grant_id, first)
            if not isinstance(first, Ack):  # pragma: no cover - the grammar allows no other
                raise UnexpectedMessage(f"a vault answered a subscribe with {first.type}")
            local.audit.append(
                "requester.subscribe", {"grant_id": rec.grant_id, "fields": list(wanted)}
            )
            subscribed()
            if catch_up:  # what changed while no stream was open
                after = await self.read(rec, wanted, timeout)
                for update in missed(rec.grant_id, before, after, local.now()):
                    yield update
            while True:
                # The state machine lets only this grant's update, revoke_notice or error in.
                event = await stream.receive()
                if isinstance(event, Update):
                    if self.apply_update(rec.grant_id, event, wanted):
                        yield event
                elif isinstance(event, RevokeNotice):
                    self._revocation.accept_notice(rec.vault_peer, event)
                    await self._receipts.deliver(rec.grant_id)
                    return
                elif isinstance(event, Error):
                    raise self._revocation.refused(rec.grant_id, event)
                else:  # pragma: no cover - the grammar allows no other
                    raise UnexpectedMessage(f"a vault pushed {event.type} on a subscription")
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()

    # -- pushed updates ---------------------------------------------------------------------

    def receive_update(self, sender: str, update: Update) -> bool:
        """An update from ``sender`` outside a subscription (a queued delivery); applied?

        Only the grant's own vault may update it: anything else is logged and dropped.
        """
        rec = self._local.book.find_grant(update.grant_id)
        if rec is None or sender != rec.vault_peer:
            log.warning("ignored an update for a grant not held from this vault")
            return False
        return self.apply_update(update.grant_id, update, rec.grant.scope.fields)

    def apply_update(self, grant_id: str, update: Update, wanted: Sequence[str]) -> bool:
        """Apply a pushed update to the sealed copy; False if it is stale or not ours to keep."""
        local = self._local
        rec = local.book.grant(grant_id)
        if rec.status(local.now()) is not GrantStatus.ACTIVE or not local.copies.has_key(grant_id):
            return False
        if not any(pattern_covers(w, update.path) for w in wanted) or not any(
            pattern_covers(f, update.path) for f in rec.grant.scope.fields
        ):
            log.warning("ignored an update outside the subscription on grant %s", grant_id)
            return False
        copy = local.copies.load(grant_id)
        current = copy.get(update.path)
        if current is not None and current.version >= update.version:
            return False
        if update.deleted:
            copy.pop(update.path, None)
        else:
            copy[update.path] = FieldRecord(
                value=update.value, version=update.version, updated_at=update.ts
            )
        with local.transaction():
            local.copies.save(grant_id, copy)
            local.audit.append(
                "requester.update",
                {"grant_id": grant_id, "path": update.path, "version": update.version},
            )
        return True
