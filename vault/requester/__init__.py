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

from protocol import AccessDenied, Offer, RateLimited, RemoteError, TransportError, Update
from protocol.listen import DEFAULT_LISTEN
from vault.requester._args import parse_purpose, vault_peer_of
from vault.requester._book import GrantStatus, RequestRecord
from vault.requester._errors import (
    DecisionPending,
    InvalidGrant,
    RequesterError,
    UnknownGrant,
    UnknownRequest,
    error_to_exception,
)
from vault.requester._handles import GrantHandle, GrantInfo, PendingRequest
from vault.requester._local import GrantRef
from vault.requester._requester import Requester
from vault.requester.offers import OfferAgent

__all__ = [
    "DEFAULT_LISTEN",
    "AccessDenied",
    "DecisionPending",
    "GrantHandle",
    "GrantInfo",
    "GrantRef",
    "GrantStatus",
    "InvalidGrant",
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
