"""``VaultNode``: the running vault, the one object that owns everything while it runs.

::

    async with VaultNode.start(home, passphrase, listen=[...], control_port=0) as vn:
        vn.peer_id, vn.addrs          # the libp2p identity and multiaddrs (with /p2p/<id>)
        vn.vault, vn.grants, vn.rules # the unlocked Vault, GrantBook, RuleBook
        vn.approve(request_id, fields=None, days=None)  -> Grant (vault-signed)
        vn.deny(request_id, reason="")
        await vn.revoke(grant_id)     # in force on return; the notice is delivered after

(``vn = await VaultNode.start(...)`` works too; then :meth:`close` it yourself.)

Start order, and why:

1. the exclusive lock on ``KLUIS_HOME`` (:mod:`vault.home.lock`) *before* the vault is
   unlocked, because the unlock is an audited write (D2: one writer);
2. unlock the vault (Argon2id, in a worker thread so the loop stays live);
3. the grant book, the rules and the :class:`~vault.services.access.AccessService`, which
   hooks profile changes (for subscriptions) and decisions (for long-polls);
4. the libp2p node with the vault's identity; then the access service's task
   group, and only then the handlers: ``/kluis/access``, ``/kluis/contact`` and
   ``/kluis/deliver``, each served through the h11-style state machine of its
   grammar (:mod:`protocol.connection`);
5. the control API (:mod:`vault.api.control`), which writes ``control.url`` and
   ``control.token`` last, so their presence means "ready".

Each step registers its undo as it succeeds (:mod:`protocol.lifecycle`): a start
that fails undoes what was done, and :meth:`close` undoes all of it, in reverse.
``clock`` (integer ms) drives grant expiry and audit timestamps, so tests can
expire grants without waiting. With ``network=False`` no libp2p node is started
(control API and Python API only).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from protocol import ACCESS_GRAMMAR, CONTACT_GRAMMAR, DELIVERY_GRAMMAR, Grant, RevokeNotice
from protocol.clock import Clock, now_ms
from protocol.framing import MAX_FRAME_SIZE
from protocol.lifecycle import Service, Steps, opener
from protocol.listen import DEFAULT_LISTEN
from vault.api.control import ControlServer
from vault.home.config import load_config
from vault.home.lock import VaultLock
from vault.services.access import AccessService
from vault.services.agent_service import AgentService
from vault.services.contact_service import ContactService
from vault.services.delivery import DeliveryService
from vault.services.domain_check import DomainVerifier
from vault.services.grantbook import GrantBook, RequestState
from vault.services.identity import BusinessBook
from vault.services.ratelimit import RateLimiter
from vault.services.rules import RuleBook
from vault.store.vault import Vault

__all__ = ["VaultNode"]

log = logging.getLogger(__name__)


class VaultNode(Service):
    """A running vault node: ``async with VaultNode.start(...)`` (or await it, then close)."""

    def __init__(
        self,
        home: Path,
        vault: Vault,
        grants: GrantBook,
        rules: RuleBook,
        access: AccessService,
        verifier: DomainVerifier | None = None,
    ) -> None:
        self.home = home
        self.vault = vault
        self.grants = grants
        self.rules = rules
        self.access = access
        #: Who asks: profiles, domain checks, petnames, change flags (vault/services/identity.py)
        self.businesses = BusinessBook(vault, grants, verifier or DomainVerifier(vault.clock))
        self.node: Any = None  # protocol.runtime.Node when the network is on
        self.control: ControlServer | None = None
        self.agents: AgentService | None = None  # with the network only (agents use libp2p)
        # Contact (inbox, rules) and store-and-forward (outbox, erasure): docs/protocol.md 13-14
        self.contact = ContactService(vault, grants, limiter=access.limiter)
        self.inbox = self.contact.inbox
        self.delivery = DeliveryService(vault, grants, access=access, limiter=access.limiter)
        self.outbox = self.delivery.outbox
        self.erasures = self.delivery.erasures

    @classmethod
    @opener
    async def start(
        cls,
        home: Path | str,
        passphrase: str,
        *,
        listen: Sequence[str] = DEFAULT_LISTEN,
        bootstrap: Sequence[str] = (),
        mdns: bool = False,
        control_port: int | None = 0,
        clock: Clock = now_ms,
        limiter: RateLimiter | None = None,
        max_frame_size: int = MAX_FRAME_SIZE,
        network: bool = True,
        reach: Any = None,
        domain_verifier: DomainVerifier | None = None,
        unlocked: tuple[VaultLock, Vault] | None = None,
    ) -> VaultNode:
        """Lock, unlock, serve. ``control_port=None`` runs without the control API.

        ``unlocked`` is a lock already held and the vault opened under it (``kluis
        start`` unlocks while it imports this module, so the KDF overlaps the
        imports); the node then owns both, and releases them on close or failure.

        ``reach`` (a :class:`protocol.runtime.reach.ReachConfig`) joins the DHT and
        keeps a relay reservation when needed: see ``vault.home.config.reach_config``.
        ``domain_verifier`` replaces the default one (tests give it a resolver
        and a TLS context for a local HTTPS server).
        """
        folder = Path(home)
        async with Steps() as steps:
            if unlocked is not None:
                lock, vault = unlocked
                steps.undo(lock.release, "release the vault lock")
                steps.undo(vault.close, "close the vault")
            else:
                lock = VaultLock(folder)
                lock.acquire()
                steps.undo(lock.release, "release the vault lock")
                vault = await asyncio.to_thread(Vault.open, folder, passphrase, clock=clock)
                steps.undo(vault.close, "close the vault")
            pending_days = load_config(folder).requests.pending_days
            grants = GrantBook(vault, clock=clock, pending_days=pending_days)
            grants.expire_pending()
            rules = RuleBook(vault)
            access = AccessService(
                vault, grants, rules, limiter=limiter, max_frame_size=max_frame_size
            )
            self = cls(folder, vault, grants, rules, access, domain_verifier)
            steps.undo(lambda: vault.audit.append("node.stop"), "audit the stop")
            steps.undo(self._close_businesses, "stop the domain checks")
            if network:
                from protocol.runtime import Node

                self.node = await Node.start(
                    vault.identity,
                    listen=list(listen),
                    bootstrap=list(bootstrap),
                    mdns=mdns,
                    reach=reach,
                )
                steps.undo(self.node.close, "stop the libp2p node")
            await access.start()
            steps.undo(access.aclose, "stop the access service")
            steps.undo(
                lambda: self.contact.strangers.flush_all(grants.now()), "audit refusal counts"
            )
            if self.node is not None:
                self._serve(max_frame_size)
            await self.delivery.start()
            steps.undo(self.delivery.aclose, "stop store-and-forward")
            if self.node is not None:
                # Preference agents (docs/agents.md, "Network"): intents run on ephemeral nodes.
                self.agents = AgentService(
                    vault, grants, vault_addrs=lambda: self.addrs, bootstrap=list(bootstrap)
                )
                steps.undo(self.agents.aclose, "stop the agents")
            if control_port is not None:
                self.control = ControlServer(self, folder, port=control_port)
                await self.control.start()
                steps.undo(self.control.stop, "stop the control API")
            vault.audit.append("node.start", {"addrs": len(self.addrs)})
            self._adopt(steps)
        return self

    def _serve(self, max_frame_size: int) -> None:
        """Serve the three kluis protocols, each through its grammar's state machine."""
        node = self.node
        node.set_frame_handler(
            ACCESS_GRAMMAR,
            self.access.handle,
            max_frame_size=max_frame_size,
            on_protocol_error=self.access.on_protocol_error,
        )
        self.access.outbound = node
        node.set_frame_handler(
            CONTACT_GRAMMAR,
            self.contact.handle,
            max_frame_size=max_frame_size,
            on_protocol_error=self.contact.on_protocol_error,
        )
        node.set_frame_handler(
            DELIVERY_GRAMMAR, self.delivery.handle, max_frame_size=max_frame_size
        )
        self.delivery.node = node
        self.contact.on_peer_seen = self.delivery.peer_seen

    # -- identity ---------------------------------------------------------------

    @property
    def peer_id(self) -> str:
        return self.vault.peer_id

    @property
    def addrs(self) -> list[str]:
        """Listen multiaddrs, each ending in ``/p2p/<peer id>`` (empty without network)."""
        return list(self.node.addrs) if self.node is not None else []

    @property
    def control_url(self) -> str | None:
        return self.control.url if self.control is not None else None

    @property
    def control_token(self) -> str | None:
        return self.control.token if self.control is not None else None

    # -- the owner's decisions -----------------------------------------------------

    def approve(
        self,
        request_id: str,
        fields: Sequence[str] | None = None,
        days: int | None = None,
        *,
        actions: Sequence[str] | None = None,
    ) -> Grant:
        """Approve a pending request (optionally narrowed); a waiting requester is answered."""
        return self.grants.approve(request_id, fields, days, actions=actions)

    def deny(self, request_id: str, reason: str = "") -> RequestState:
        """Deny a pending request; a waiting requester is answered."""
        return self.grants.deny(request_id, reason)

    async def revoke(
        self, grant_id: str, *, reason: str = "", erase: bool = False, wait_delivery: bool = False
    ) -> RevokeNotice:
        """Revoke a grant: in force (index, store, audit) when this returns.

        The signed notice goes to the requester in the background (on its
        subscription, else by a request); ``wait_delivery`` waits for that too.
        """
        notice = self.grants.revoke(grant_id, reason=reason, erase=erase)
        if wait_delivery:
            task = self.access.delivery(grant_id)
            if task is not None:
                with contextlib.suppress(Exception):
                    await task
        return notice

    # -- lifecycle ----------------------------------------------------------------------

    async def _close_businesses(self) -> None:
        self.businesses.close()
        if self.businesses.verifier is not None:
            await self.businesses.verifier.aclose()

    async def close(self) -> None:
        """Stop serving, close the store, release the lock (the start, undone). Idempotent."""
        await super().close()

    def __repr__(self) -> str:
        return f"VaultNode({self.peer_id}, {self.home})"
