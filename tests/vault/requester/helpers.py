"""Helpers for requester unit tests: a fake vault identity that signs grants and notices."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from protocol import (
    Decision,
    DecisionStatus,
    FieldValue,
    Grant,
    Identity,
    RevokeNotice,
    Update,
    dump_message,
    make_grant,
    sign,
)
from vault.requester import GrantHandle, Requester

from ..serving import answer


class FakeVault:
    """A vault identity that answers like a vault would, without a network."""

    def __init__(self) -> None:
        self.identity = Identity.generate()
        self.peer_id = self.identity.peer_id
        self.addr = f"/ip4/127.0.0.1/tcp/4001/p2p/{self.peer_id}"
        self._versions: dict[str, int] = {}

    def grant(
        self,
        biz: Requester,
        asked: Iterable[str] = ("contact.email", "address.home.*"),
        *,
        days: int = 30,
        retention_days: int = 0,
        now: int | None = None,
        **narrow: Any,
    ) -> GrantHandle:
        req = biz.asking.record(
            self.addr,
            list(asked),
            "ServiceProvision",
            "deliver your bike",
            days=days,
            retention_days=retention_days,
        )
        grant = make_grant(req, self.identity, now_ms=biz.now() if now is None else now, **narrow)
        biz.asking.apply_decision(req.request_id, approve(grant))
        return biz.handle(grant.grant_id)

    def push(self, biz: Requester, grant: GrantHandle, path: str, value: FieldValue) -> bool:
        """An update from this vault outside a subscription (as a queued delivery brings it)."""
        version = self._versions.get(path, 0) + 1
        self._versions[path] = version
        update = Update(
            grant_id=grant.grant_id,
            path=path,
            value=value,
            deleted=value is None,
            version=version,
            ts=biz.now(),
        )
        return biz.reader.receive_update(self.peer_id, update)

    def notice(self, biz: Requester, grant: GrantHandle, *, erase: bool = False) -> RevokeNotice:
        return sign(
            RevokeNotice(
                grant_id=grant.grant_id,
                vault=self.peer_id,
                requester=biz.peer_id,
                revoked_at=biz.now(),
                erase=erase,
            ),
            self.identity,
        )

    async def revoke(self, biz: Requester, grant: GrantHandle, **kw: Any) -> Any:
        notice = self.notice(biz, grant, **kw)
        return await deliver(biz, self.peer_id, notice)


async def deliver(biz: Requester, sender: str, msg: Any) -> Any:
    """Send ``msg`` to the requester's ``/kluis/access`` handler on a stream from ``sender``.

    The frame goes through the access grammar's server Connection, as on the node.
    """
    payload = msg if isinstance(msg, bytes) else dump_message(msg)
    reply = answer(biz.revocation, sender, payload)
    if inspect.isawaitable(reply):
        reply = await reply
    return reply


def approve(grant: Grant) -> Decision:
    return Decision(request_id=grant.request_id, status=DecisionStatus.APPROVED, grant=grant)
