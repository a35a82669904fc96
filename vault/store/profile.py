"""The owner's profile: typed fields with versions, timestamps and change listeners.

Each field is one sealed store record (kind ``profile``, name = the dotted
path) holding ``{"v": value, "ver": version, "at": updated_at_ms}`` as
canonical JSON. Versions count up per field and never restart: ``unset``
leaves a tombstone (``v = null``) carrying the next version, so a business that
holds version 3 can tell that version 4 is a deletion. (Listeners push these
changes to businesses with a live subscription: :mod:`vault.services.access`.)

Every change and its audit entry commit in one transaction; listeners
registered with :meth:`Profile.on_change` run only after that commit, so they
never see a change that did not happen. Setting a field to the value it
already has is a no-op: no new version, no audit entry, no notification.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from protocol import CanonicalError, canonical_dumps, canonical_loads
from protocol.clock import Clock, now_ms
from vault._exceptions import CorruptRecord, FieldNotSet
from vault.store.audit import AuditLog
from vault.store.jsonform import JsonRecord
from vault.store.records import Store
from vault.store.schema import FieldValue, parse_text, resolve, validate_value

__all__ = ["ChangeListener", "Profile", "ProfileField", "decode_field", "encode_field"]

log = logging.getLogger(__name__)

KIND = "profile"


@dataclass(frozen=True, slots=True)
class ProfileField(JsonRecord):
    """One profile field as the vault stores it. ``value is None`` means unset (a tombstone).

    Not :class:`protocol.FieldRecord`, which is a field's value as sent to a
    requester (no path: the path is its key in a ``read_result``).
    """

    path: str
    value: FieldValue | None
    version: int
    updated_at: int

    @property
    def is_set(self) -> bool:
        return self.value is not None

    def __repr__(self) -> str:
        # Values are personal: keep them out of reprs that end up in logs and tracebacks.
        return f"ProfileField({self.path!r}, version={self.version}, updated_at={self.updated_at})"


#: Called after a change commits, with the new record (``value is None`` for an unset).
ChangeListener = Callable[[ProfileField], None]


def encode_field(record: ProfileField) -> bytes:
    """The bytes sealed in the store for one field (the path is the record's name)."""
    return canonical_dumps({"v": record.value, "ver": record.version, "at": record.updated_at})


def decode_field(path: str, raw: bytes) -> ProfileField:
    """Inverse of :func:`encode_field`; malformed bytes are a :class:`CorruptRecord`."""
    try:
        data = canonical_loads(raw)
        value, version, at = data["v"], data["ver"], data["at"]
        ok_value = (
            value is None
            or isinstance(value, bool | int | str)
            or (isinstance(value, list) and all(isinstance(x, str) for x in value))
        )
        if not ok_value or type(version) is not int or type(at) is not int:
            raise TypeError("field record shape")
    except (CanonicalError, KeyError, TypeError) as exc:
        raise CorruptRecord(path, kind=KIND) from exc
    return ProfileField(path, value, version, at)


class Profile:
    """Typed, validated, versioned profile fields on top of the sealed store."""

    def __init__(self, store: Store, audit: AuditLog, clock: Clock = now_ms) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._listeners: list[ChangeListener] = []
        self._snapshot: dict[str, ProfileField] | None = None
        self._snapshot_version = -1

    # -- reading -------------------------------------------------------------

    def snapshot(self) -> Mapping[str, ProfileField] | None:
        """Every committed field record by path (tombstones too); None if it cannot be had now.

        Decrypted once and kept until the next change. A caller that looks up
        many fields (a read) takes the snapshot once instead of calling
        :meth:`record` per field, each of which checks it is still fresh.

        A running node answers reads all day from a profile that changes a few
        times a year, so decrypting and decoding each field on every read was
        most of a read's cost. The snapshot is built only outside a transaction
        (so it never holds uncommitted values), dropped by every change, and
        not built at all while any record is damaged: then (None) each read takes the
        uncached path, which names the damaged record. A commit by another
        handle on the same file (SQLite's ``data_version``) drops it too.
        """
        version = self._store.data_version()
        if version != self._snapshot_version:
            self._snapshot = None
        if self._snapshot is None and not self._store.in_transaction:
            errors: list[CorruptRecord] = []
            records: dict[str, ProfileField] = {}
            for name, raw in self._store.items(KIND, errors=errors):
                try:
                    records[name] = decode_field(name, raw)
                except CorruptRecord as exc:
                    errors.append(exc)
            if not errors:
                self._snapshot, self._snapshot_version = records, version
        return self._snapshot

    def record(self, path: str) -> ProfileField | None:
        """The field's record (a tombstone if it was unset), or None if never set."""
        resolve(path)
        snapshot = self.snapshot()
        if snapshot is not None:
            return snapshot.get(path)
        raw = self._store.get(KIND, path)
        return None if raw is None else decode_field(path, raw)

    def get(self, path: str) -> FieldValue:
        """The field's value; :class:`FieldNotSet` if it has none."""
        rec = self.record(path)
        if rec is None or rec.value is None:
            raise FieldNotSet(path)
        return rec.value

    def fields(
        self, prefix: str | None = None, *, errors: list[CorruptRecord] | None = None
    ) -> list[ProfileField]:
        """Set fields as ``(path, value, version, updated_at)``, sorted by path.

        ``prefix`` selects a subtree (``address`` or ``address.home``). With
        ``errors``, corrupt records are collected there instead of raising.
        """
        snapshot = self.snapshot()
        if snapshot is not None:  # sorted by path: built from the store's sorted items
            return [
                rec
                for name, rec in snapshot.items()
                if rec.is_set and (not prefix or name == prefix or name.startswith(prefix + "."))
            ]
        out: list[ProfileField] = []
        for name, raw in self._store.items(KIND, errors=errors):
            if prefix and not (name == prefix or name.startswith(prefix + ".")):
                continue
            try:
                rec = decode_field(name, raw)
            except CorruptRecord as exc:
                if errors is None:
                    raise
                errors.append(exc)
                continue
            if rec.is_set:
                out.append(rec)
        return out

    def document(self) -> dict[str, Any]:
        """The set fields as one nested dict (``custom`` keys stay dotted)."""
        doc: dict[str, Any] = {}
        for rec in self.fields():
            keys = resolve(rec.path).keys
            node = doc
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            node[keys[-1]] = rec.value
        return doc

    # -- writing -------------------------------------------------------------

    def set(self, path: str, value: Any) -> ProfileField:
        """Validate and store ``value``; returns the new record (or the unchanged one)."""
        clean = validate_value(path, value)
        return self._write(path, clean)

    def set_text(self, path: str, text: str) -> ProfileField:
        """Like :meth:`set`, parsing command-line text first (lists are comma-separated)."""
        return self.set(path, parse_text(path, text))

    def unset(self, path: str) -> ProfileField:
        """Remove the value, keeping a tombstone with the next version."""
        resolve(path)
        with self._store.transaction():
            prev = self.record(path)
            if prev is None or prev.value is None:
                raise FieldNotSet(path)
            return self._commit(
                ProfileField(path, None, prev.version + 1, self._clock()), "profile.unset", {}
            )

    def _write(self, path: str, value: FieldValue) -> ProfileField:
        with self._store.transaction():
            extra: dict[str, Any] = {}
            try:
                prev = self.record(path)
            except CorruptRecord:
                # The owner overwrites a damaged record: that is the repair path.
                prev, extra = None, {"repaired": True}
            if prev is not None and prev.value == value and type(prev.value) is type(value):
                return prev
            version = 1 if prev is None else prev.version + 1
            return self._commit(
                ProfileField(path, value, version, self._clock()), "profile.set", extra
            )

    def _commit(self, rec: ProfileField, kind: str, extra: dict[str, Any]) -> ProfileField:
        self._snapshot = None  # rebuilt from the database once this commits (or rolls back)
        self._store.put(KIND, rec.path, encode_field(rec))
        self._audit.append(kind, {"path": rec.path, "version": rec.version, **extra})
        self._store.after_commit(lambda: self._notify(rec))
        return rec

    # -- listeners -----------------------------------------------------------

    def on_change(self, listener: ChangeListener) -> Callable[[], None]:
        """Register a callback for committed changes; returns a function that unregisters it."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def _notify(self, rec: ProfileField) -> None:
        for listener in list(self._listeners):
            try:
                listener(rec)
            except Exception:
                # The change is committed; one broken listener must not undo or hide it.
                log.exception("profile change listener failed for %s", rec.path)

    def __repr__(self) -> str:
        return "Profile(<sealed>)"
