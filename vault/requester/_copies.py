"""The business's copy of a customer's data: sealed under a key of its own, per grant.

Two layers, so that one grant's data can be destroyed without touching any other:

* **The grant key**: 32 random bytes, made when the grant is accepted, kept in
  its own store record (kind ``req.key``, name = grant id). The store seals it
  under the requester's data key (AES-256-GCM with the record's identity as
  associated data), i.e. the grant key is *wrapped* under the data key.
* **The data**: one record per grant (kind ``req.data``), whose value is the
  canonical JSON of ``{path: {value, version, updated_at}}`` sealed under the
  *grant key* (AD ``kluis-grantdata-v1 NUL grant id``); the store then seals
  that blob again under the data key like every other record.

Deleting a grant's data deletes both records in one transaction. Without its
key record, a copy of the data blob (in a WAL frame, a leftover page, a backup
taken later) cannot be opened even by someone holding the data key: that is
crypto-shredding. The requester's SQLite connection runs with
``PRAGMA secure_delete = ON`` and the WAL is checkpointed (``TRUNCATE``) after
each deletion, so the freed pages are zeroed and no old frame keeps the key.

Caveat: a backup of the requester store taken *before* the deletion holds the
key too; erasure reaches such a backup only when it is rotated out.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from protocol import CanonicalError, FieldRecord, canonical_dumps, canonical_loads
from vault._exceptions import CorruptRecord
from vault.store.crypto import KEY_BYTES, CryptoFailure, Rng, SecretKey, open_sealed, seal
from vault.store.vault import Vault

__all__ = ["DATA_KIND", "KEY_KIND", "SealedCopies", "enable_secure_delete"]

log = logging.getLogger(__name__)

KEY_KIND = "req.key"
DATA_KIND = "req.data"
_DATA_AD = b"kluis-grantdata-v1\x00"


def enable_secure_delete(vault: Vault) -> bool:
    """Have the store overwrite deleted content; True if it took effect.

    Fails soft: crypto-shredding holds regardless.
    """
    if not vault.shred_on_delete():  # pragma: no cover - any SQLite build has secure_delete
        log.warning("could not enable secure_delete on the requester store")
        return False
    return True


def _checkpoint(vault: Vault) -> None:
    if not vault.checkpoint():
        log.info("WAL checkpoint after a deletion did not complete")


def _ad(grant_id: str) -> bytes:
    return _DATA_AD + grant_id.encode("utf-8")


class SealedCopies:
    """Per-grant sealed copies of received fields, inside the requester's :class:`Vault`."""

    def __init__(self, vault: Vault, rng: Rng = os.urandom) -> None:
        self._vault = vault
        self._store = vault.store
        self._rng = rng

    # -- keys ---------------------------------------------------------------------

    def create_key(self, grant_id: str) -> None:
        """Make the grant's random key (idempotent: an existing key is kept)."""
        if not self._store.contains(KEY_KIND, grant_id):
            self._store.put(KEY_KIND, grant_id, self._rng(KEY_BYTES))

    def has_key(self, grant_id: str) -> bool:
        return self._store.contains(KEY_KIND, grant_id)

    def _key(self, grant_id: str) -> SecretKey | None:
        raw = self._store.get(KEY_KIND, grant_id)
        if raw is None:
            return None
        if len(raw) != KEY_BYTES:
            raise CorruptRecord(f"key of grant {grant_id}", kind=KEY_KIND)
        return SecretKey(raw)

    # -- data ---------------------------------------------------------------------

    def load(self, grant_id: str) -> dict[str, FieldRecord]:
        """The stored copy; empty if nothing was received or the data was deleted."""
        blob = self._store.get(DATA_KIND, grant_id)
        if blob is None:
            return {}
        key = self._key(grant_id)
        if key is None:  # data without its key is unreadable by design
            raise CorruptRecord(f"data of grant {grant_id} (its key is gone)", kind=DATA_KIND)
        try:
            raw: Any = canonical_loads(open_sealed(key, blob, _ad(grant_id)))
            return {path: FieldRecord.model_validate(rec) for path, rec in raw.items()}
        except (CryptoFailure, CanonicalError, AttributeError, ValueError) as exc:
            raise CorruptRecord(f"data of grant {grant_id}", kind=DATA_KIND) from exc

    def save(self, grant_id: str, records: dict[str, FieldRecord]) -> None:
        """Replace the grant's copy with ``records`` (sealed under the grant key)."""
        key = self._key(grant_id)
        if key is None:
            raise CorruptRecord(f"key of grant {grant_id} (missing)", kind=KEY_KIND)
        body = canonical_dumps(
            {path: rec.model_dump(mode="json") for path, rec in sorted(records.items())}
        )
        self._store.put(DATA_KIND, grant_id, seal(key, body, _ad(grant_id), self._rng))

    def destroy(self, grant_id: str) -> bool:
        """Delete the grant's data and its key together; True if the key existed.

        Joins the caller's transaction if one is open; the WAL is checkpointed
        once the outermost transaction has committed.
        """
        with self._store.transaction():
            self._store.delete(DATA_KIND, grant_id)
            existed = self._store.delete(KEY_KIND, grant_id)
            self._store.after_commit(lambda: _checkpoint(self._vault))
        return existed
