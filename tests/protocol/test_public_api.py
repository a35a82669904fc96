"""The public API of ``protocol`` is exactly this list; changing it is a decision."""

from __future__ import annotations

import protocol
from tests.lazy_exports import check_lazy_exports

EXPECTED = {
    # errors
    "AccessDenied", "CanonicalError", "ConnectError", "ConnectionBroken", "ErrorCode",
    "FrameTooLarge", "KluisError", "LocalError", "LocalProtocolError", "MalformedFrame",
    "RateLimited", "RemoteError", "RemoteProtocolError", "ReplayError", "SignatureError",
    "StreamClosed", "TransportError", "UnexpectedMessage", "UnknownMessage",
    # canonical JSON and identities
    "canonical_dumps", "canonical_loads", "Identity", "PublicIdentity",
    "peer_id_from_public_key", "public_key_from_peer_id", "sign_object", "verify_object",
    # protocol ids
    "ACCESS", "CONTACT", "DELIVERY", "NEGOTIATE", "ProtocolId", "is_compatible",
    "parse_protocol_id",
    # vocabulary and scopes
    "Purpose", "PurposeCode", "Action", "Scope", "ScopeError", "is_subset", "narrow",
    "path_in_scope", "select_paths",
    # messages
    "AccessRequest", "Ack", "AnyMessage", "AwaitDecision", "Decision", "DecisionStatus",
    "DeletionReason", "DeletionReceipt", "Error", "FieldRecord", "FieldValue", "Grant",
    "Message", "Offer", "Read", "ReadResult", "RevokeNotice", "Signed", "Subscribe", "Update",
    "dump_message", "error_from_exception", "parse_message", "sign", "verify", "new_id",
    "new_nonce",
    # time, and where a node listens
    "Clock", "format_ms", "now_ms", "DEFAULT_LISTEN", "LOOPBACK",
    # replay, grants, receipts
    "ReplayGuard", "check_access", "grant_fits_request", "make_grant",
    "verify_grant", "ConsentReceipt", "ReceiptKind", "make_receipt", "to_kantara",
    "verify_receipt",
    # contact, erasure, store-and-forward
    "CategoryCap", "ContactCategory", "ContactChannel", "ContactPolicy", "QuietHours",
    "ContactMessage", "ContactSignal", "DeliveryBatch", "DeliveryPoll", "EraseRequest",
    "ErasureReceipt",
    "SealedDelivery", "parse_contact_frame", "verify_erasure_receipt",
    # connection: the state machine every access, contact and delivery stream runs through
    "Connection", "NEED_DATA", "PEER_CLOSED", "Role", "State", "render_state_table", "Grammar",
    "ACCESS_GRAMMAR", "CONTACT_GRAMMAR", "DELIVERY_GRAMMAR",
}  # fmt: skip


def test_all_is_exactly_the_expected_set() -> None:
    assert len(protocol.__all__) == len(set(protocol.__all__)), "duplicates in __all__"
    assert set(protocol.__all__) == EXPECTED


def test_every_name_resolves() -> None:
    for name in protocol.__all__:
        assert getattr(protocol, name) is not None, name


def test_the_lazy_table_is_the_public_api() -> None:
    """``protocol`` re-exports lazily (PEP 562): its table, its ``TYPE_CHECKING`` imports
    and ``__all__`` agree, and each name is its module's own object."""
    check_lazy_exports(protocol)
