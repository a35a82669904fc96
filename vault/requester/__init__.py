"""kluis for businesses: ask a customer's vault for access, read, subscribe, obey revocation.

::

    from vault.requester import Requester, Offer

    async with Requester.open(home, passphrase) as biz:
        pending = await biz.request(vault_addr, fields=["contact.email"],
                                    purpose="ServiceProvision", purpose_text="send your order")
        grant = await pending.decision(timeout=60)
        print(await biz.read(grant))

See :class:`Requester` for the revocation and retention contract, and
:class:`OfferAgent` (:mod:`vault.requester.offers`) to answer customers' intents
by negotiation and receive the grant an agreement creates.
"""

from typing import TYPE_CHECKING

from protocol.reexport import lazy_exports

if TYPE_CHECKING:
    from protocol import AccessDenied, Offer, RateLimited, RemoteError, TransportError, Update
    from protocol.listen import DEFAULT_LISTEN
    from vault.requester._args import parse_purpose, vault_peer_of
    from vault.requester._book import GrantStatus, RequestRecord
    from vault.requester._errors import (
        DecisionPending,
        InvalidGrant,
        MutedByCustomer,
        RequesterError,
        UnknownGrant,
        UnknownRequest,
        error_to_exception,
    )
    from vault.requester._handles import GrantHandle, GrantInfo, PendingRequest
    from vault.requester._local import GrantRef
    from vault.requester._requester import Requester
    from vault.requester.offers import OfferAgent

#: module -> the public names it defines; imported on first use (PEP 562).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "protocol": (
        "AccessDenied",
        "Offer",
        "RateLimited",
        "RemoteError",
        "TransportError",
        "Update",
    ),
    "protocol.listen": ("DEFAULT_LISTEN",),
    "vault.requester._args": ("parse_purpose", "vault_peer_of"),
    "vault.requester._book": ("GrantStatus", "RequestRecord"),
    "vault.requester._errors": (
        "DecisionPending",
        "InvalidGrant",
        "MutedByCustomer",
        "RequesterError",
        "UnknownGrant",
        "UnknownRequest",
        "error_to_exception",
    ),
    "vault.requester._handles": ("GrantHandle", "GrantInfo", "PendingRequest"),
    "vault.requester._local": ("GrantRef",),
    "vault.requester._requester": ("Requester",),
    "vault.requester.offers": ("OfferAgent",),
}

__all__ = [
    "DEFAULT_LISTEN",
    "AccessDenied",
    "DecisionPending",
    "GrantHandle",
    "GrantInfo",
    "GrantRef",
    "GrantStatus",
    "InvalidGrant",
    "MutedByCustomer",
    "Offer",
    "OfferAgent",
    "PendingRequest",
    "RateLimited",
    "RemoteError",
    "RequestRecord",
    "Requester",
    "RequesterError",
    "TransportError",
    "UnknownGrant",
    "UnknownRequest",
    "Update",
    "error_to_exception",
    "parse_purpose",
    "vault_peer_of",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
