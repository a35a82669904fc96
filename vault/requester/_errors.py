"""The requester SDK's own errors, and how a vault's error reply becomes an exception.

Everything hangs off :class:`protocol.KluisError`, so the CLI's error mapping
prints one line for any of them. The tree is drawn once, with every kluis
error, in the docstring of :mod:`protocol._exceptions`. A vault's refusal
becomes :class:`protocol.AccessDenied` (``code`` says why),
:class:`protocol.RateLimited` or :class:`protocol.RemoteError`
(:func:`error_to_exception`); the SDK adds :class:`InvalidGrant`,
:class:`RequesterError` (:class:`UnknownGrant`, :class:`UnknownRequest`,
:class:`MutedByCustomer`) and
:class:`DecisionPending` (also a :class:`TimeoutError`).

Transport failures stay the runtime's :class:`protocol.TransportError` subclasses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocol import (
    AccessDenied,
    ErrorCode,
    KluisError,
    LocalError,
    RateLimited,
    RemoteError,
    RemoteProtocolError,
)

if TYPE_CHECKING:  # a type only: the message models are not needed to raise an error
    from protocol import Error

__all__ = [
    "ACCESS_CODES",
    "DecisionPending",
    "InvalidGrant",
    "MutedByCustomer",
    "RequesterError",
    "UnknownGrant",
    "UnknownRequest",
    "error_to_exception",
]

#: Error codes that mean "policy said no": they become :class:`protocol.AccessDenied`.
ACCESS_CODES = frozenset(
    {
        ErrorCode.NOT_GRANTED,
        ErrorCode.OUT_OF_SCOPE,
        ErrorCode.REVOKED,
        ErrorCode.EXPIRED,
        ErrorCode.WRONG_PEER,
        ErrorCode.PURPOSE_MISMATCH,
        ErrorCode.DENIED,
        ErrorCode.BLOCKED,
        ErrorCode.NOT_FOUND,
        ErrorCode.CAP_EXCEEDED,
        ErrorCode.QUIET_HOURS,
        ErrorCode.CATEGORY_REFUSED,
    }
)


class InvalidGrant(RemoteProtocolError):
    """The vault sent a grant this requester must not use; nothing was stored."""


class RequesterError(LocalError):
    """A problem with this business's own store or with the arguments given."""


class MutedByCustomer(RequesterError):
    """The customer's vault told this business it muted this category (or all): not sent (D43).

    ``code`` is ``category_refused``: the customer does not take these messages now.
    """

    code = ErrorCode.CATEGORY_REFUSED


class UnknownGrant(RequesterError):
    """No grant with this id in the local store."""

    code = ErrorCode.NOT_FOUND

    def __init__(self, grant_id: str) -> None:
        super().__init__(f"no local grant {grant_id}")
        self.grant_id = grant_id


class UnknownRequest(RequesterError):
    """No access request with this id in the local store."""

    code = ErrorCode.NOT_FOUND

    def __init__(self, request_id: str) -> None:
        super().__init__(f"no local access request {request_id}")
        self.request_id = request_id


class DecisionPending(KluisError, TimeoutError):
    """The owner did not decide before the timeout; the request is still pending.

    Also a :class:`TimeoutError`, so ``except TimeoutError`` around a wait catches it.
    """

    code = ErrorCode.TIMEOUT

    def __init__(self, request_id: str) -> None:
        super().__init__(f"no decision yet on request {request_id}; it is still pending")
        self.request_id = request_id


def error_to_exception(error: Error) -> KluisError:
    """The typed exception a vault's :class:`~protocol.Error` reply stands for."""
    text = error.message or error.code.value
    if error.code in ACCESS_CODES:
        return AccessDenied(text, code=error.code)
    if error.code is ErrorCode.RATE_LIMITED:
        return RateLimited(text)
    return RemoteError(text, code=error.code)
