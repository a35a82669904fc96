"""The durable outbox: messages for a business that may be offline, sealed, ordered, once.

Every queued message is **sealed with HPKE to the business's key** (announced,
signed, in its access request) before it touches the disk, and then stored
like every other record (sealed again under the vault's data key). Nothing
queued is ever stored in plaintext, not even in memory longer than enqueueing.

Per business (peer id) messages get a sequence number ``seq`` (1, 2, 3, …) and
are delivered strictly in that order: the head of a peer's queue blocks the
rest until the business acknowledges it. An item leaves the outbox only once
the business acknowledged it, in one transaction with the delivery record, so
a crash (even ``kill -9``) at any point loses nothing; a crash after the
business applied an item but before the vault recorded the ack re-sends it,
and the business, which remembers the highest ``seq`` it applied, does not
apply it again (at most once, as the application sees it).

``key`` is an idempotency key: enqueueing a key that is still queued (or was
delivered recently) returns the existing item instead of adding a copy.
``ttl_ms`` makes an item expire (an update superseded long ago is not worth
sending); expired items are dropped, and audited, before sending.

Failed sends back off exponentially (``base_backoff_s`` doubling up to
``max_backoff_s``) per peer; :meth:`Outbox.kick` clears the back-off when the
peer shows up (it polls, or contacts the vault).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from protocol import Message, SealedDelivery, canonical_dumps, canonical_loads, dump_message, new_id
from protocol.clock import Clock, now_ms
from vault.store.hpke import seal_to
from vault.store.jsonform import HexBytes, JsonRecord
from vault.store.vault import Vault

__all__ = ["Outbox", "OutboxItem", "SendResult"]

log = logging.getLogger(__name__)

ITEM_KIND = "outbox"
PEER_KIND = "outbox.peer"
#: How many delivered idempotency keys are remembered per peer.
RECENT_KEYS = 128
#: Hard cap on queued items per peer: the oldest refuse new ones beyond it.
MAX_QUEUED_PER_PEER = 100_000


@dataclass(frozen=True)
class OutboxItem(JsonRecord):
    """One queued, sealed message."""

    peer: str
    seq: int
    delivery_id: str
    key: str
    kind: str  # the inner message's type (update, revoke_notice, erase_request)
    created_at: int
    expires_at: int | None
    sealed: HexBytes
    attempts: int = 0

    @property
    def name(self) -> str:
        return f"{self.peer}/{self.seq:016d}"

    def envelope(self, vault_peer: str) -> SealedDelivery:
        return SealedDelivery(
            delivery_id=self.delivery_id,
            vault=vault_peer,
            requester=self.peer,
            seq=self.seq,
            created_at=self.created_at,
            expires_at=self.expires_at,
            sealed=self.sealed.hex(),
        )


def delivery_info(vault_peer: str, peer: str, delivery_id: str, seq: int) -> bytes:
    """The HPKE context of one delivery (same bytes as :meth:`SealedDelivery.info`)."""
    return f"kluis-deliver-v1\x00{vault_peer}\x00{peer}\x00{delivery_id}\x00{seq}".encode()


@dataclass
class _PeerState:
    next_seq: int = 1
    recent: list[str] | None = None  # delivered idempotency keys, oldest first
    failures: int = 0
    retry_at: float = 0.0  # monotonic seconds


@dataclass(frozen=True)
class SendResult:
    """What one flush of a peer's queue did."""

    delivered: int
    expired: int
    failed: bool


#: Sends one delivery to a peer and returns its reply (raises on failure).
Sender = Callable[[str, SealedDelivery], Awaitable[Message]]
#: Called with (item, reply message) for each acknowledged item; True = accepted.
ReplyCheck = Callable[[OutboxItem, Message], bool]


class Outbox:
    """The vault's durable, sealed, ordered outbox (one instance per open vault)."""

    def __init__(
        self,
        vault: Vault,
        *,
        clock: Clock = now_ms,
        monotonic: Callable[[], float] | None = None,
        base_backoff_s: float = 1.0,
        max_backoff_s: float = 300.0,
    ) -> None:
        import time

        self.vault = vault
        self._clock = clock
        self._mono = monotonic or time.monotonic
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self._queues: dict[str, list[int]] = {}
        self._items: dict[tuple[str, int], OutboxItem] = {}
        self._keys: dict[tuple[str, str], int] = {}
        self._peers: dict[str, _PeerState] = {}
        self._load()

    # -- persistence ------------------------------------------------------------------------

    def _load(self) -> None:
        store = self.vault.store
        for name, raw in store.items(PEER_KIND):
            data = canonical_loads(raw)
            self._peers[name] = _PeerState(
                next_seq=int(data["next_seq"]), recent=list(data.get("recent", []))
            )
        for _name, raw in store.items(ITEM_KIND):
            item = OutboxItem.from_json(canonical_loads(raw))
            self._index(item)

    def _index(self, item: OutboxItem) -> None:
        bisect.insort(self._queues.setdefault(item.peer, []), item.seq)
        self._items[(item.peer, item.seq)] = item
        self._keys[(item.peer, item.key)] = item.seq

    def _unindex(self, item: OutboxItem) -> None:
        queue = self._queues.get(item.peer, [])
        i = bisect.bisect_left(queue, item.seq)
        if i < len(queue) and queue[i] == item.seq:
            queue.pop(i)
        self._items.pop((item.peer, item.seq), None)
        if self._keys.get((item.peer, item.key)) == item.seq:
            del self._keys[(item.peer, item.key)]

    def _peer(self, peer: str) -> _PeerState:
        state = self._peers.get(peer)
        if state is None:
            state = self._peers[peer] = _PeerState(recent=[])
        return state

    def _save_peer(self, peer: str, state: _PeerState) -> None:
        body = {"next_seq": state.next_seq, "recent": (state.recent or [])[-RECENT_KEYS:]}
        self.vault.store.put(PEER_KIND, peer, canonical_dumps(body))

    # -- queueing ---------------------------------------------------------------------------

    def enqueue(
        self,
        peer: str,
        message: Message,
        public_key: str,
        *,
        key: str | None = None,
        ttl_ms: int | None = None,
    ) -> OutboxItem:
        """Seal ``message`` to ``public_key`` (the peer's announced HPKE key) and queue it.

        Durable when this returns. An idempotency ``key`` already queued (or
        recently delivered) returns that item (or a copy of the record) instead.
        """
        ikey = key or new_id()
        existing = self.find(peer, ikey)
        if existing is not None:
            return existing
        state = self._peer(peer)
        if ikey in (state.recent or []):
            return OutboxItem(peer, 0, "", ikey, message.type, 0, None, b"", 0)
        if len(self._queues.get(peer, [])) >= MAX_QUEUED_PER_PEER:
            from vault._exceptions import VaultError

            raise VaultError("the outbox for this business is full")
        now = int(self._clock())
        seq = state.next_seq
        delivery_id = new_id()
        sealed = seal_to(
            public_key,
            dump_message(message),
            delivery_info(self.vault.peer_id, peer, delivery_id, seq),
        )
        item = OutboxItem(
            peer=peer,
            seq=seq,
            delivery_id=delivery_id,
            key=ikey,
            kind=message.type,
            created_at=now,
            expires_at=None if ttl_ms is None else now + ttl_ms,
            sealed=sealed,
        )
        new_state = replace(state, next_seq=seq + 1)
        with self.vault.transaction():
            self.vault.store.put(ITEM_KIND, item.name, canonical_dumps(item.to_json()))
            self._save_peer(peer, new_state)
        self._peers[peer] = new_state
        self._index(item)
        return item

    def find(self, peer: str, key: str) -> OutboxItem | None:
        seq = self._keys.get((peer, key))
        return None if seq is None else self._items.get((peer, seq))

    def cancel(self, peer: str, key: str) -> bool:
        """Drop a queued item (e.g. it reached the peer another way). True if it was queued."""
        item = self.find(peer, key)
        if item is None:
            return False
        with self.vault.transaction():
            self.vault.store.delete(ITEM_KIND, item.name)
        self._unindex(item)
        return True

    def pending(self, peer: str | None = None) -> list[OutboxItem]:
        """Queued items, in delivery order (per peer)."""
        peers = [peer] if peer is not None else sorted(self._queues)
        return [self._items[(p, s)] for p in peers for s in self._queues.get(p, [])]

    def peers(self) -> list[str]:
        """Peers with something queued."""
        return sorted(p for p, q in self._queues.items() if q)

    def __len__(self) -> int:
        return len(self._items)

    # -- delivery ---------------------------------------------------------------------------

    def due(self, peer: str) -> bool:
        """True if ``peer`` has items and is not backing off."""
        return bool(self._queues.get(peer)) and self._mono() >= self._peer(peer).retry_at

    def kick(self, peer: str) -> None:
        """Forget ``peer``'s back-off: it is reachable again."""
        state = self._peer(peer)
        state.failures = 0
        state.retry_at = 0.0

    def _backoff(self, peer: str) -> None:
        state = self._peer(peer)
        state.failures += 1
        delay = min(self.max_backoff_s, self.base_backoff_s * 2 ** (state.failures - 1))
        state.retry_at = self._mono() + delay

    def _expire(self, item: OutboxItem, now: int) -> bool:
        if item.expires_at is None or now <= item.expires_at:
            return False
        with self.vault.transaction():
            self.vault.store.delete(ITEM_KIND, item.name)
            self.vault.audit.append(
                "outbox.expired", {"peer": item.peer, "seq": item.seq, "kind": item.kind}
            )
        self._unindex(item)
        return True

    def _delivered(self, item: OutboxItem) -> None:
        state = self._peer(item.peer)
        recent = [*(state.recent or []), item.key][-RECENT_KEYS:]
        new_state = replace(state, recent=recent, failures=0, retry_at=0.0)
        with self.vault.transaction():
            self.vault.store.delete(ITEM_KIND, item.name)
            self._save_peer(item.peer, new_state)
        self._peers[item.peer] = new_state
        self._unindex(item)

    def head(self, peer: str, *, drop_expired: bool = False) -> OutboxItem | None:
        """The next item for ``peer`` (dropping expired ones first if asked)."""
        while self._queues.get(peer):
            item = self._items[(peer, self._queues[peer][0])]
            if drop_expired and self._expire(item, int(self._clock())):
                continue
            return item
        return None

    def mark_delivered(self, item: OutboxItem) -> bool:
        """The peer acknowledged ``item``: remove it (durably). False if already gone."""
        if self._items.get((item.peer, item.seq)) is None:
            return False
        self._delivered(item)
        return True

    def mark_delivered_many(self, items: list[OutboxItem]) -> int:
        """Remove several acknowledged items in one transaction; how many were still queued."""
        live = [i for i in items if self._items.get((i.peer, i.seq)) is not None]
        if not live:
            return 0
        with self.vault.transaction():
            for item in live:
                self._delivered(item)
        return len(live)

    async def flush(
        self, peer: str, send: Sender, accept: ReplyCheck, *, limit: int | None = None
    ) -> SendResult:
        """Send ``peer``'s queue in order until it is empty, a send fails, or ``limit``.

        ``send`` returns the reply; ``accept(item, reply)`` says whether
        the reply acknowledges the item. A failure backs the peer off and stops.
        """
        from protocol import KluisError

        delivered = expired = 0
        while self._queues.get(peer) and (limit is None or delivered < limit):
            item = self._items[(peer, self._queues[peer][0])]
            if self._expire(item, int(self._clock())):
                expired += 1
                continue
            try:
                reply = await send(peer, item.envelope(self.vault.peer_id))
                ok = accept(item, reply)
            except (KluisError, TimeoutError, OSError) as exc:
                log.info("delivery %s/%d not delivered: %s", peer, item.seq, exc)
                ok = False
            if not ok:
                self._backoff(peer)
                return SendResult(delivered, expired, True)
            if self.mark_delivered(item):
                delivered += 1
        return SendResult(delivered, expired, False)
