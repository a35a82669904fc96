"""``VaultNode``: the running vault, the one object that owns everything while it runs.

::

    async with await VaultNode.start(home, passphrase, listen=[...], control_port=0) as vn:
        vn.peer_id, vn.addrs          # the libp2p identity and multiaddrs (with /p2p/<id>)
        vn.vault, vn.grants, vn.rules # the unlocked Vault, GrantBook, RuleBook
        vn.approve(request_id, fields=None, days=None)  -> Grant (vault-signed)
        vn.deny(request_id, reason="")
        await vn.revoke(grant_id)     # in force on return; the notice is delivered after
        vn.control_url, vn.control_token

Start order, and why:

1. the exclusive lock on ``KLUIS_HOME`` (:mod:`vault.home.lock`) *before* the vault is
   unlocked, because the unlock is an audited write (D2: one writer);
2. unlock the vault (Argon2id, in a worker thread so the loop stays live);
3. the grant book, the rules and the :class:`~vault.services.access.AccessService`, which
   hooks profile changes (for subscriptions) and decisions (for long-polls);
4. the libp2p node with the vault's identity, serving ``/kluis/access/1.0.0``;
5. the control API (:mod:`vault.api.control`), which writes ``control.url`` and
   ``control.token`` last, so their presence means "ready".

:meth:`close` undoes these in reverse. ``clock`` (integer ms) drives grant
expiry and audit timestamps, so tests can expire grants without waiting. With
``network=False`` no libp2p node is started (control API and Python API only).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from protocol import ACCESS, CONTACT, DELIVERY, Grant, RevokeNotice
from protocol.framing import MAX_FRAME_SIZE
from vault.api.control import ControlServer
from vault.home.lock import VaultLock
from vault.services.access import AccessService
from vault.services.contact_service import ContactService
from vault.services.delivery import DeliveryService
from vault.services.domain_check import DomainVerifier
from vault.services.grantbook import GrantBook, RequestState
from vault.services.identity import BusinessBook
from vault.services.ratelimit import RateLimiter
from vault.services.rules import RuleBook
from vault.store.audit import Clock, wall_clock_ms
from vault.store.vault import Vault

__all__ = ["DEFAULT_LISTEN", "VaultNode"]

log = logging.getLogger(__name__)

DEFAULT_LISTEN = ("/ip4/127.0.0.1/tcp/0",)


class VaultNode:
    """A running vault node: build with :meth:`start`, close with :meth:`close`/``async with``."""

    def __init__(
        self,
        home: Path,
        lock: VaultLock,
        vault: Vault,
        grants: GrantBook,
        rules: RuleBook,
        access: AccessService,
        verifier: DomainVerifier | None = None,
    ) -> None:
        self.home = home
        self._lock = lock
        self.vault = vault
        self.grants = grants
        self.rules = rules
        self.access = access
        #: Who asks: profiles, domain checks, petnames, change flags (vault/services/identity.py)
        self.businesses = BusinessBook(vault, grants, verifier or DomainVerifier(vault.clock))
        self.node: Any = None  # protocol.runtime.Node when the network is on
        self.control: ControlServer | None = None
        self.agents: Any = None  # vault.services.agent_service.AgentService when the network is on
        # Contact (inbox, rules) and store-and-forward (outbox, erasure): docs/protocol.md 13-14
        self.contact = ContactService(vault, grants, limiter=access.limiter)
        self.inbox = self.contact.inbox
        self.delivery = DeliveryService(vault, grants, access=access, limiter=access.limiter)
        self.outbox = self.delivery.outbox
        self.erasures = self.delivery.erasures
        self._closed = False

    @classmethod
    async def start(
        cls,
        home: Path | str,
        passphrase: str,
        *,
        listen: Sequence[str] = DEFAULT_LISTEN,
        bootstrap: Sequence[str] = (),
        mdns: bool = False,
        control_port: int | None = 0,
        clock: Clock = wall_clock_ms,
        limiter: RateLimiter | None = None,
        max_frame_size: int = MAX_FRAME_SIZE,
        network: bool = True,
        domain_verifier: DomainVerifier | None = None,
    ) -> VaultNode:
        """Lock, unlock, serve. ``control_port=None`` runs without the control API.

        ``domain_verifier`` replaces the default one (tests give it a resolver
        and a TLS context for a local HTTPS server).
        """
        folder = Path(home)
        lock = VaultLock(folder)
        lock.acquire()
        vault: Vault | None = None
        self: VaultNode | None = None
        try:
            vault = await asyncio.to_thread(Vault.open, folder, passphrase, clock=clock)
            grants = GrantBook(vault, clock=clock)
            rules = RuleBook(vault)
            access = AccessService(
                vault, grants, rules, limiter=limiter, max_frame_size=max_frame_size
            )
            self = cls(folder, lock, vault, grants, rules, access, domain_verifier)
            if network:
                from protocol.runtime import Node

                self.node = await Node.start(
                    vault.identity, listen=list(listen), bootstrap=list(bootstrap), mdns=mdns
                )
                self.node.set_frame_handler(
                    ACCESS,
                    access.handle,
                    max_frame_size=max_frame_size,
                    on_protocol_error=access.on_protocol_error,
                )
                access.outbound = self.node
                self._serve_contact_and_delivery(max_frame_size)
                # Preference agents (docs/agents.md, "Network"): intents run on ephemeral nodes.
                from vault.services.agent_service import AgentService

                self.agents = AgentService(
                    vault, grants, vault_addrs=lambda: self.addrs, bootstrap=list(bootstrap)
                )
            if control_port is not None:
                self.control = ControlServer(self, folder, port=control_port)
                await self.control.start()
            vault.audit.append("node.start", {"addrs": len(self.addrs)})
        except BaseException:
            if self is not None:
                await self.close()
            else:
                if vault is not None:
                    vault.close()
                lock.release()
            raise
        return self

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

    def _serve_contact_and_delivery(self, max_frame_size: int) -> None:
        self.node.set_frame_handler(
            CONTACT,
            self.contact.handle,
            max_frame_size=max_frame_size,
            on_protocol_error=self.contact.on_protocol_error,
        )
        self.node.set_frame_handler(
            DELIVERY,
            self.delivery.handle,
            max_frame_size=max_frame_size,
            on_protocol_error=self.delivery.on_protocol_error,
        )
        self.delivery.node = self.node
        self.contact.on_peer_seen = self.delivery.peer_seen
        self.delivery.start()

    # -- lifecycle ----------------------------------------------------------------------

    async def close(self) -> None:
        """Stop serving, close the store, release the lock. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.control is not None:
            with contextlib.suppress(Exception):
                await self.control.stop()
        with contextlib.suppress(Exception):
            await self.delivery.aclose()
        with contextlib.suppress(Exception):
            await self.access.aclose()
        with contextlib.suppress(Exception):
            self.businesses.close()
            if self.businesses.verifier is not None:
                await self.businesses.verifier.aclose()
        if self.agents is not None:
            with contextlib.suppress(Exception):
                await self.agents.aclose()
        if self.node is not None:
            try:
                await self.node.close()
            except Exception:
                log.exception("libp2p node did not close cleanly")
        with contextlib.suppress(Exception):
            self.vault.audit.append("node.stop")
        self.vault.close()
        self._lock.release()

    async def __aenter__(self) -> VaultNode:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"VaultNode({self.peer_id}, {self.home})"
