"""The agents' errors. Each one hangs off the protocol's error tree.

The tree, with every class of every package, is drawn once, in the docstring of
:mod:`protocol._exceptions`; ``tests/test_error_tree.py`` keeps that drawing
true. The agents' classes there: :class:`DomainError` (a domain, issue or bid
built locally that is not well formed), :class:`InvalidBid` and
:class:`UnexpectedMove` (a peer's bad bid or move), :class:`IllegalMove` (our
own move the session does not allow) and :class:`MandateViolation` (a move
outside the owner's signed mandate), :class:`UsageError` and its
:class:`StrategyLoadError` (a tournament argument or a ``module:Class`` that
cannot be used); a mandate whose signature fails reuses
:class:`protocol.SignatureError` as is.

Error messages name issues and states, never a profile field's *value*.
"""

from __future__ import annotations

from protocol import (
    AccessDenied,
    ErrorCode,
    KluisError,
    LocalError,
    LocalProtocolError,
    MalformedFrame,
    UnexpectedMessage,
)

__all__ = [
    "DomainError",
    "IllegalMove",
    "InvalidBid",
    "MandateViolation",
    "StrategyLoadError",
    "UnexpectedMove",
    "UsageError",
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


class UsageError(LocalError, ValueError):
    """A tournament argument that cannot be used (rounds, strategy names, scenario folder)."""


class StrategyLoadError(UsageError):
    """A ``module:Class`` that does not name a loadable strategy."""
