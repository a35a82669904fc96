"""The vault's errors: everything that can go wrong on the owner's machine.

They all hang off :class:`protocol.LocalError`, so the CLI (the one place that
turns exceptions into exit codes) can catch :class:`protocol.KluisError` and
print one line. Lower layers' exceptions (``sqlite3``, ``cryptography``,
``pydantic``) are mapped at the boundary with ``raise ... from exc`` and never
escape a public API.

Messages may name a field *path* or a record id; they never carry a personal
value, a passphrase or a key.

Where each class sits is drawn once, with every other kluis error, in the
docstring of :mod:`protocol._exceptions` (``tests/test_error_tree.py`` keeps
the drawing true). The vault's errors that belong to one module live there
(``CryptoFailure`` in :mod:`vault.store.crypto`, ``NotFound`` in
:mod:`vault.services.grantbook`, ...); the ones every floor shares live here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocol import ErrorCode, LocalError

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
    "AuditError",
    "BackupError",
    "CorruptRecord",
    "FieldNotSet",
    "InvalidValue",
    "StorageError",
    "UnknownField",
    "VaultError",
    "VaultExists",
    "VaultNotFound",
    "WeakPassphrase",
    "WrongPassphrase",
]


class VaultError(LocalError):
    """Something is wrong with the local vault."""


class VaultNotFound(VaultError):
    """There is no vault in this folder."""

    def __init__(self, home: object) -> None:
        super().__init__(f"no vault in {home} (run `kluis init` or set KLUIS_HOME)")
        self.home = home


class VaultExists(VaultError):
    """A vault (or other files) already exists where a new one would be written."""

    code = ErrorCode.EXISTS

    def __init__(
        self,
        home: object,
        what: str = "a vault already exists in",
        *,
        hint: str = "refusing to overwrite it",
    ) -> None:
        super().__init__(f"{what} {home}; {hint}")
        self.home = home


class WrongPassphrase(VaultError):
    """The passphrase does not unlock this vault."""

    def __init__(self) -> None:
        super().__init__("wrong passphrase")


class WeakPassphrase(VaultError):
    """The new passphrase is refused (empty or too short)."""


class CorruptRecord(VaultError):
    """A sealed record failed authentication: tampered with, swapped, or damaged.

    ``name`` is the best name we have: the field path when the caller asked for
    it by name, otherwise ``kind`` plus the (pseudonymous) record id.
    """

    def __init__(self, name: str, *, kind: str = "", record_id: str = "") -> None:
        super().__init__(f"corrupt record: {name} (failed authentication; it may be tampered)")
        self.name = name
        self.kind = kind
        self.record_id = record_id


class UnknownField(VaultError):
    """A dotted path that is not part of the profile schema."""

    code = ErrorCode.NOT_FOUND

    def __init__(self, path: str, hint: str = "") -> None:
        msg = f"unknown field: {path}"
        super().__init__(f"{msg} ({hint})" if hint else msg)
        self.path = path
        self.hint = hint


class InvalidValue(VaultError):
    """The schema rejects the value given for a field; nothing was stored."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"invalid value for {path}: {reason}")
        self.path = path
        self.reason = reason


class FieldNotSet(VaultError):
    """The field is part of the schema but has no value."""

    code = ErrorCode.NOT_FOUND

    def __init__(self, path: str) -> None:
        super().__init__(f"field not set: {path}")
        self.path = path


class AuditError(VaultError):
    """The audit log cannot be read or extended."""


class BackupError(VaultError):
    """A backup could not be written or restored."""


class StorageError(VaultError):
    """The vault's files or its SQLite database failed."""


#: pydantic error type -> the plain reason (the others keep pydantic's message).
_PLAIN_REASONS = {
    "missing": "missing",
    "extra_forbidden": "not a known field",
    "string_pattern_mismatch": "not in the expected form",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
}


def describe_invalid(exc: ValidationError, *, limit: int = 3) -> str:
    """A pydantic ``ValidationError`` in one line a person can act on: ``where: why``.

    pydantic's own text names its internals ("Value error, ", "String should
    match pattern '^[1-9A-HJ-NP-Za-km-z]{40,64}$'") and ``str(exc)`` echoes the
    input, which may be personal; this keeps the location and a plain reason,
    never the input (for the control API's ``invalid_body`` problems and the CLI).
    """
    parts = []
    for err in exc.errors(include_input=False, include_url=False)[:limit]:
        why = _PLAIN_REASONS.get(err["type"]) or str(err["msg"]).removeprefix("Value error, ")
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {why}" if loc else why)
    return "; ".join(parts)[:300]
