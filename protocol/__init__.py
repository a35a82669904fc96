"""kluis protocol: the wire and trust layer shared by every node.

The core is sans-I/O (pure functions and frozen models, no sockets); the node
runtime in :mod:`protocol.runtime` is the one place that binds it to libp2p.
Public names are re-exported here explicitly; ``tests/test_public_api.py``
guards the list.
"""

from ._exceptions import (
    AccessDenied,
    ConnectError,
    ConnectionBroken,
    ErrorCode,
    FrameTooLarge,
    KluisError,
    LocalError,
    MalformedFrame,
    RateLimited,
    RemoteError,
    RemoteProtocolError,
    ReplayError,
    SignatureError,
    StreamClosed,
    TransportError,
    UnexpectedMessage,
    UnknownMessage,
)
from .canonical import CanonicalError, canonical_dumps, canonical_loads
from .signing import (
    Identity,
    PublicIdentity,
    peer_id_from_public_key,
    public_key_from_peer_id,
    sign_object,
    verify_object,
)

__all__ = [
    "AccessDenied",
    "CanonicalError",
    "ConnectError",
    "ConnectionBroken",
    "ErrorCode",
    "FrameTooLarge",
    "Identity",
    "KluisError",
    "LocalError",
    "MalformedFrame",
    "PublicIdentity",
    "RateLimited",
    "RemoteError",
    "RemoteProtocolError",
    "ReplayError",
    "SignatureError",
    "StreamClosed",
    "TransportError",
    "UnexpectedMessage",
    "UnknownMessage",
    "canonical_dumps",
    "canonical_loads",
    "peer_id_from_public_key",
    "public_key_from_peer_id",
    "sign_object",
    "verify_object",
]
