"""The agents' errors. Each one hangs off the protocol's error tree (:mod:`protocol`).

::

    KluisError
    ├── DomainError                 a domain, issue or bid that is not well formed (local)
    ├── RemoteProtocolError
    │   ├── MalformedFrame
    │   │   └── InvalidBid          a peer's bid that does not fit the domain
    │   └── UnexpectedMessage
    │       └── UnexpectedMove      a peer's move that the session state does not allow
    ├── LocalProtocolError
    │   └── IllegalMove             *we* tried a move the session state does not allow
    ├── AccessDenied
    │   └── MandateViolation        a move outside the owner's signed mandate
    └── SignatureError              (reused as is: a mandate whose signature fails)

Error messages name issues and states, never a profile field's *value*.
"""

from __future__ import annotations

from protocol import (
    AccessDenied,
    ErrorCode,
    KluisError,
    LocalProtocolError,
    MalformedFrame,
    UnexpectedMessage,
)

__all__ = [
    "DomainError",
    "IllegalMove",
    "InvalidBid",
    "MandateViolation",
    "UnexpectedMove",
]


class DomainError(KluisError, ValueError):
    """A domain, issue, utility or bid built locally that is not well formed."""

    code = ErrorCode.INTERNAL


class InvalidBid(MalformedFrame):
    """A bid from a peer that names unknown issues, misses one, or holds a value out of range."""


class UnexpectedMove(UnexpectedMessage):
    """A peer's negotiation move that the session's current state does not allow."""


class IllegalMove(LocalProtocolError):
    """This side tried a negotiation move the session's current state does not allow."""


class MandateViolation(AccessDenied):
    """A move that would commit the owner beyond the mandate they signed."""

    code = ErrorCode.DENIED
