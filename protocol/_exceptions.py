"""The kluis exception tree: every error class of protocol, agents and vault, drawn here.

Every error that kluis raises on purpose is a :class:`KluisError`. Each one
carries a stable, machine-readable :class:`ErrorCode`; that code is what goes
on the wire in an error frame and what the owner's HTTP API returns (as the
``code`` of an RFC 9457 problem), so peers and scripts written in other
languages can act on it without parsing English.

This is the one drawing of the tree. The other packages' error modules
(``agents/_errors.py``, ``vault/_exceptions.py``, ``vault/requester/_errors.py``)
point here rather than drawing their own, and ``tests/test_error_tree.py`` walks
every module of ``protocol``, ``agents`` and ``vault`` and fails if a class is
missing from the drawing, hangs under another parent than drawn, or is not a
:class:`KluisError`. The ``[where]`` column names the defining module when it is
not this one::

    KluisError
    ├── RemoteProtocolError          the other side sent something we cannot accept
    │   ├── FrameTooLarge            length prefix over the hard limit
    │   ├── MalformedFrame           bad varint, bad JSON, or a model that does not validate
    │   │   ├── CanonicalError       [protocol.canonical] no canonical encoding
    │   │   └── InvalidBid           [agents] a peer's bid that does not fit the domain
    │   ├── UnknownMessage           a "type" we do not speak
    │   ├── UnexpectedMessage        a valid message in the wrong state
    │   │   └── UnexpectedMove       [agents] a peer's move the session state does not allow
    │   ├── InvalidGrant             [vault.requester] a grant the requester must not use
    │   └── BadRequest               [vault.api.problems] an HTTP request the API refuses
    │       └── Invalid              [vault.api.dashboard] a dashboard form with bad fields
    ├── LocalProtocolError           *we* tried to send something the protocol forbids
    │   └── IllegalMove              [agents] *we* tried a move the session does not allow
    ├── SignatureError               a signature that does not verify (one opaque error)
    ├── ReplayError                  a nonce seen before, or a timestamp outside the window
    ├── AccessDenied                 policy said no; ``code`` says why
    │   │ (codes: not_granted, out_of_scope, revoked, expired, wrong_peer,
    │   │  purpose_mismatch, denied, blocked, cap_exceeded, quiet_hours,
    │   │  category_refused)
    │   └── MandateViolation         [agents] a move outside the owner's signed mandate
    ├── RateLimited                  a per-peer budget is spent
    ├── RemoteError                  the remote peer answered with an error frame
    ├── ScopeError                   [protocol.scopes] a scope wider than asked, a bad path
    ├── TransportError               the network failed under us
    │   ├── ConnectError             could not reach or negotiate with the peer
    │   │   └── AddressInUse         [protocol.runtime.addrs] a listen port is taken
    │   ├── ConnectionBroken         the peer or the network broke the stream ("it broke")
    │   │   └── EndOfStream          [protocol.runtime.node] the peer ended it cleanly (EOF)
    │   └── StreamClosed             we closed it ourselves ("you closed it")
    ├── DomainError                  [agents] a domain, issue or bid built badly (local)
    │   ├── AnacError                [agents.anac] an ANAC scenario file we cannot use
    │   └── DomainFileError          [agents.domains] a kluis domain file (TOML) we cannot use
    ├── IntentExpired                [agents.intents] the intent's expiry has passed
    ├── DecisionPending              [vault.requester] no decision before the timeout
    └── LocalError                   something on this machine (store, files, config)
        ├── UsageError               [agents] a tournament argument that cannot be used
        │   └── StrategyLoadError    a ``module:Class`` that names no loadable strategy
        ├── GuestError               [protocol.runtime._bridge] the trio guest is not running
        │   └── GuestCancelled       its owner shut the trio side down ("you closed it")
        ├── VaultError               [vault] the owner's vault
        │   ├── VaultNotFound        no vault in KLUIS_HOME
        │   ├── VaultExists          a vault or file is in the way (HTTP 409, code exists)
        │   ├── WrongPassphrase      the key-encryption key did not unwrap the data key
        │   ├── WeakPassphrase       refused when creating or changing a passphrase
        │   ├── CorruptRecord        a sealed record failed to open (names the record)
        │   │   └── RolledBackRecord [vault.services.trail] a row older than its audit event
        │   ├── UnknownField         a dotted path outside the schema
        │   ├── InvalidValue         a value the schema rejects (names path and reason)
        │   ├── FieldNotSet          get/unset of a field with no value
        │   ├── AuditError           the audit log cannot be read or appended to
        │   │   └── RollbackDetected [vault.store.highwater] the chain ends below its mark
        │   ├── BackupError          an export/import failed (wrong passphrase, bad file)
        │   ├── StorageError         the SQLite file or the vault folder misbehaved
        │   ├── CryptoFailure        [vault.store.crypto] unwrap/open failed (opaque)
        │   ├── HpkeError            [vault.store.hpke] a sealed delivery does not open
        │   ├── ConfigError          [vault.home.config] config.toml does not parse
        │   ├── AlreadyRunning       [vault.home.lock] another node holds this vault
        │   ├── NotFound             [vault.services.grantbook] no object with that id
        │   ├── RuleError            [vault.services.rules] a rule that cannot be added
        │   ├── InvalidPetname       [vault.services.identity] a petname the owner cannot give
        │   ├── DomainUnverified     [vault.services.domain_check] a domain check that failed
        │   ├── IntentFileError      [vault.services.agent_service] a bad intent file
        │   ├── NoRunningNode        [vault.cli.client] no node runs on this KLUIS_HOME
        │   ├── ApiProblem           [vault.cli.client] the node's API answered a problem
        │   └── AmbiguousId          [vault.cli.prefixes] an id prefix matches several ids
        └── RequesterError           [vault.requester] the business's own store or arguments
            ├── UnknownGrant         no local grant with that id
            ├── UnknownRequest       no local access request with that id
            ├── MutedByCustomer      [vault.requester] the customer's vault told of a mute
            └── OfferRulesError      [vault.business.offer_rules] bad offer rules or agent

Rules that follow from the design:

* Lower layers' exceptions (libp2p, trio, sqlite3, OSError, cryptography's
  ``InvalidTag``, pydantic's ``ValidationError``) are mapped at the boundary
  with ``raise ... from exc``; they never escape a public API. (Where the
  lower error would carry a personal value, as pydantic's does, the cause is
  dropped with ``from None`` instead, and the code says why.)
* "You closed it" and "it broke" stay apart: :class:`StreamClosed` (and
  :class:`GuestCancelled`) mean this side ended it; :class:`ConnectionBroken`
  means the peer or the network did.
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
