"""The kluis exception tree.

Every error that kluis raises on purpose is a :class:`KluisError`. Each one
carries a stable, machine-readable :class:`ErrorCode`; that code is what goes
on the wire in an error frame and what the HTTP API returns, so peers written in
other languages can act on it without parsing English.

The tree (vault-local errors live in ``vault/_exceptions.py`` and hang off
:class:`LocalError`)::

    KluisError
    ├── RemoteProtocolError      the peer sent bytes we cannot accept
    │   ├── FrameTooLarge        length prefix over the hard limit
    │   ├── MalformedFrame       bad varint, bad JSON, or a model that does not validate
    │   ├── UnknownMessage       a "type" we do not speak
    │   └── UnexpectedMessage    a valid message in the wrong state
    ├── LocalProtocolError       *we* tried to send something the protocol forbids
    ├── SignatureError           a signature that does not verify (one opaque error)
    ├── ReplayError              a nonce seen before, or a timestamp outside the window
    ├── AccessDenied             policy said no; ``code`` says why
    │   (codes: not_granted, out_of_scope, revoked, expired, wrong_peer,
    │    purpose_mismatch, denied, blocked, cap_exceeded, quiet_hours,
    │    category_refused)
    ├── RateLimited              a per-peer budget is spent
    ├── RemoteError              the remote peer answered with an error frame
    ├── TransportError           the network failed under us
    │   ├── ConnectError         could not reach or negotiate with the peer
    │   ├── ConnectionBroken     the peer or the network broke the stream ("it broke")
    │   └── StreamClosed         we closed it ourselves ("you closed it")
    └── LocalError               something on this machine (vault store, files, config)

Rules that follow from the design:

* Lower layers' exceptions (libp2p, sqlite3, cryptography, pydantic) are mapped
  at the boundary with ``raise ... from exc``; they never escape a public API.
* Messages never contain secrets or personal values: field *paths* are fine,
  field *values* are not.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AccessDenied",
    "ConnectError",
    "ConnectionBroken",
    "ErrorCode",
    "FrameTooLarge",
    "KluisError",
    "LocalError",
    "LocalProtocolError",
    "MalformedFrame",
    "RateLimited",
    "RemoteError",
    "RemoteProtocolError",
    "ReplayError",
    "SignatureError",
    "StreamClosed",
    "TransportError",
    "UnexpectedMessage",
    "UnknownMessage",
]


class ErrorCode(StrEnum):
    """Stable error codes. Values are part of the wire protocol: never rename one."""

    # remote protocol
    PROTOCOL = "protocol_error"
    FRAME_TOO_LARGE = "frame_too_large"
    MALFORMED = "malformed_frame"
    UNKNOWN_MESSAGE = "unknown_message"
    UNEXPECTED_MESSAGE = "unexpected_message"
    # trust
    BAD_SIGNATURE = "bad_signature"
    REPLAY = "replay"
    # policy
    NOT_GRANTED = "not_granted"
    OUT_OF_SCOPE = "out_of_scope"
    REVOKED = "revoked"
    EXPIRED = "expired"
    WRONG_PEER = "wrong_peer"
    PURPOSE_MISMATCH = "purpose_mismatch"
    DENIED = "denied"
    BLOCKED = "blocked"
    RATE_LIMITED = "rate_limited"
    NOT_FOUND = "not_found"
    # contact rules (a grant's contact terms)
    CAP_EXCEEDED = "cap_exceeded"
    QUIET_HOURS = "quiet_hours"
    CATEGORY_REFUSED = "category_refused"
    # transport
    TRANSPORT = "transport_error"
    CONNECT = "connect_failed"
    BROKEN = "connection_broken"
    CLOSED = "stream_closed"
    TIMEOUT = "timeout"
    # local
    LOCAL = "local_error"
    INTERNAL = "internal_error"
    # the owner's HTTP API (vault/api, docs/dashboard.md); never sent in frames
    BAD_JSON = "bad_json"
    INVALID_BODY = "invalid_body"
    BAD_QUERY = "bad_query"
    BAD_PATH = "bad_path"
    EXISTS = "exists"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN_HOST = "forbidden_host"
    CROSS_ORIGIN = "cross_origin"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    TOO_LARGE = "too_large"
    HTTP_ERROR = "http_error"


class KluisError(Exception):
    """Root of every error kluis raises on purpose."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str = "", *, code: ErrorCode | None = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.__class__.__name__)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class RemoteProtocolError(KluisError):
    """The peer sent something that is not valid kluis protocol."""

    code = ErrorCode.PROTOCOL


class FrameTooLarge(RemoteProtocolError):
    """A frame's length prefix is over the hard size limit."""

    code = ErrorCode.FRAME_TOO_LARGE


class MalformedFrame(RemoteProtocolError):
    """A frame that is not a valid message: bad varint, bad JSON or a failed model."""

    code = ErrorCode.MALFORMED


class UnknownMessage(RemoteProtocolError):
    """A message type this node does not speak."""

    code = ErrorCode.UNKNOWN_MESSAGE


class UnexpectedMessage(RemoteProtocolError):
    """A valid message that is not allowed in the session's current state."""

    code = ErrorCode.UNEXPECTED_MESSAGE


class LocalProtocolError(KluisError):
    """This side tried to send a message the protocol does not allow here (a bug in our code)."""

    code = ErrorCode.INTERNAL


class SignatureError(KluisError):
    """The signature does not verify. Deliberately says nothing more."""

    code = ErrorCode.BAD_SIGNATURE


class ReplayError(KluisError):
    """A nonce seen before, or a timestamp outside the accepted window."""

    code = ErrorCode.REPLAY


class AccessDenied(KluisError):
    """Policy refused the access; ``code`` says which rule."""

    code = ErrorCode.DENIED


class RateLimited(KluisError):
    """A per-peer rate or size budget is spent; try again later."""

    code = ErrorCode.RATE_LIMITED


class RemoteError(KluisError):
    """The remote peer answered with an error frame; ``code`` is the peer's code."""

    code = ErrorCode.PROTOCOL


class TransportError(KluisError):
    """The network failed under us."""

    code = ErrorCode.TRANSPORT


class ConnectError(TransportError):
    """Could not reach the peer, or could not negotiate a secure session with it."""

    code = ErrorCode.CONNECT


class ConnectionBroken(TransportError):
    """The peer or the network broke the stream ("it broke")."""

    code = ErrorCode.BROKEN


class StreamClosed(TransportError):
    """The stream was closed by our own side ("you closed it")."""

    code = ErrorCode.CLOSED


class LocalError(KluisError):
    """A problem on this machine: the vault store, a file, the configuration."""

    code = ErrorCode.LOCAL
