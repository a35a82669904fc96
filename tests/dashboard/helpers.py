"""Drive a running node as a business would, without the network (frames in, frames out)."""

from __future__ import annotations

import inspect
from collections.abc import Iterable

from protocol import Identity, Message, dump_message
from vault.node.boss import VaultNode

from ..vault.access_helpers import access_request, read
from ..vault.serving import answer


async def frame(node: VaultNode, who: Identity, msg: Message) -> object:
    """One message from ``who`` through the access grammar's state machine to the node."""
    reply = answer(node.access, who.peer_id, dump_message(msg))
    if inspect.isawaitable(reply):
        reply = await reply
    assert isinstance(reply, Message)
    return reply


async def ask(
    node: VaultNode, who: Identity, fields: Iterable[str] = ("contact.email", "name.given")
) -> str:
    """Submit a signed access request; returns its id (pending)."""
    msg = access_request(who, node.peer_id, fields)
    await frame(node, who, msg)
    return msg.request_id


async def read_as(node: VaultNode, who: Identity, grant_id: str, fields: Iterable[str]) -> object:
    return await frame(node, who, read(who, grant_id, fields))
