"""Sample messages and helpers for driving a pair of connections."""

from __future__ import annotations

from protocol import (
    AccessRequest,
    Ack,
    AwaitDecision,
    Decision,
    DecisionStatus,
    DeletionReason,
    DeletionReceipt,
    Error,
    ErrorCode,
    Message,
    Offer,
    Purpose,
    PurposeCode,
    Read,
    ReadResult,
    RevokeNotice,
    Scope,
    Subscribe,
    Update,
)
from protocol.connection import NEED_DATA, REQUESTS, Connection, Role, State

from .strategies import IDENTITIES

REQUESTER, VAULT, _ = IDENTITIES
REF = "r1"
NONCE = "ab" * 16


def samples(ref: str = REF) -> dict[str, Message]:
    """One valid message of every frame type, all correlated to ``ref``."""
    return {
        "access_request": AccessRequest(
            request_id=ref,
            requester=REQUESTER.peer_id,
            vault=VAULT.peer_id,
            scope=Scope.of(["contact.email"]),
            purpose=Purpose(code=PurposeCode.SERVICE_PROVISION),
            duration_days=1,
            retention_days=0,
            offer=Offer(),
            nonce=NONCE,
            ts=1,
        ),
        "await_decision": AwaitDecision(request_id=ref),
        "decision": Decision(request_id=ref, status=DecisionStatus.PENDING),
        "read": Read(grant_id=ref, requester=REQUESTER.peer_id, fields=("a",), nonce=NONCE, ts=1),
        "read_result": ReadResult(grant_id=ref, values={}),
        "subscribe": Subscribe(
            grant_id=ref, requester=REQUESTER.peer_id, fields=("a",), nonce=NONCE, ts=1
        ),
        "update": Update(grant_id=ref, path="a", value="x", version=1, ts=1),
        "revoke_notice": RevokeNotice(
            grant_id=ref, vault=VAULT.peer_id, requester=REQUESTER.peer_id, revoked_at=1
        ),
        "deletion_receipt": DeletionReceipt(
            receipt_id=ref,
            grant_id=ref,
            requester=REQUESTER.peer_id,
            vault=VAULT.peer_id,
            reason=DeletionReason.REVOKED,
            deleted_fields=("a",),
            deleted_at=1,
            key_destroyed=True,
        ),
        "ack": Ack(ref=ref),
        "error": Error(code=ErrorCode.DENIED, message="no", ref=ref),
    }


#: How to reach each state from IDLE: (sender, message type) steps.
PATHS: dict[State, list[tuple[Role, str]]] = {
    State.IDLE: [],
    **{
        state: [(Role.CLIENT, next(k for k, v in REQUESTS.items() if v is state))]
        for state in set(REQUESTS.values())
    },
    State.SUBSCRIBED: [(Role.CLIENT, "subscribe"), (Role.SERVER, "ack")],
    State.CLOSED: [(Role.SERVER, "error")],
}


def deliver(data: bytes, conn: Connection) -> list[object]:
    """Feed ``data`` to ``conn`` and return every event up to NEED_DATA."""
    conn.receive_data(data)
    events = []
    while (event := conn.next_event()) is not NEED_DATA:
        events.append(event)
        if event is not None and not isinstance(event, Message):
            break
    return events


def pair_in(state: State) -> tuple[Connection, Connection]:
    """A (client, server) pair that both reached ``state``."""
    client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
    msgs = samples()
    for sender, kind in PATHS[state]:
        src, dst = (client, server) if sender is Role.CLIENT else (server, client)
        assert deliver(src.send(msgs[kind]), dst) == [msgs[kind]]
    assert client.state is state and server.state is state
    return client, server
