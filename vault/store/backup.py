"""Encrypted backups: one file that restores the same identity, profile and audit chain.

Why passphrase-sealed, not HPKE: a backup must be restorable after the machine
(and every private key on it) is lost, so the only secret it may depend on is
the owner's passphrase (docs/architecture.md, D3).

File format (``kluis-backup-v1``)::

    magic   8 bytes   b"KLUISBK1"
    hlen    u32 BE    length of the header
    header  hlen      canonical JSON: {"format", "kdf": {argon2id params + fresh salt},
                                       "aead": "aes-256-gcm", "created_at"}
    body    rest      nonce(12) || AES-256-GCM(backup_key, payload, AD = magic||hlen||header)

``backup_key = Argon2id(passphrase, header.kdf)`` with a salt drawn fresh for
every export, so two backups never share a key. The header is authenticated
(it is the associated data) but not secret: it holds no personal data.

The payload is a compact binary snapshot of the vault *as stored*: the data key,
then every ``(kind, rid, sealed)`` record row and every ``(seq, sealed)`` audit
row, still sealed under the data key. Restoring therefore re-encrypts nothing,
and the audit chain comes back byte for byte (it still verifies).

A wrong passphrase and a damaged file are the same AEAD failure: reading
raises :class:`BackupError` before anything is written.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from protocol import CanonicalError, canonical_dumps, canonical_loads
from vault._exceptions import BackupError, VaultError
from vault.home.atomic import atomic_write
from vault.store.crypto import (
    KEY_BYTES,
    CryptoFailure,
    KdfParams,
    Rng,
    SecretKey,
    derive_kek,
    open_sealed,
    seal,
)

__all__ = ["FORMAT", "MAGIC", "Snapshot", "read_backup", "write_backup"]

MAGIC = b"KLUISBK1"
FORMAT = "kluis-backup-v1"
_U32 = struct.Struct(">I")
_REC = struct.Struct(">BHI")  # kind length, rid length, sealed length
_AUD = struct.Struct(">QI")  # seq, sealed length
MAX_HEADER = 64 * 1024


@dataclass(slots=True)
class Snapshot:
    """Everything needed to rebuild a vault; rows are still sealed under the data key."""

    data_key: SecretKey
    records: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    audit: list[tuple[int, bytes]] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"Snapshot(<key>, records={len(self.records)}, audit={len(self.audit)})"


def _encode(snap: Snapshot) -> bytes:
    parts = [snap.data_key.raw(), _U32.pack(len(snap.records))]
    for kind, rid, sealed in snap.records:
        raw_kind = kind.encode("ascii")
        parts += [_REC.pack(len(raw_kind), len(rid), len(sealed)), raw_kind, rid, sealed]
    parts.append(_U32.pack(len(snap.audit)))
    for seq, sealed in snap.audit:
        parts += [_AUD.pack(seq, len(sealed)), sealed]
    return b"".join(parts)


def _decode(payload: bytes) -> Snapshot:
    view = memoryview(payload)
    pos = KEY_BYTES

    def take(n: int) -> bytes:
        nonlocal pos
        if pos + n > len(view):
            raise ValueError("truncated payload")
        out = bytes(view[pos : pos + n])
        pos += n
        return out

    snap = Snapshot(SecretKey(bytes(view[:KEY_BYTES])))
    (n_records,) = _U32.unpack(take(_U32.size))
    for _ in range(n_records):
        kind_len, rid_len, sealed_len = _REC.unpack(take(_REC.size))
        kind = take(kind_len).decode("ascii")
        snap.records.append((kind, take(rid_len), take(sealed_len)))
    (n_audit,) = _U32.unpack(take(_U32.size))
    for _ in range(n_audit):
        seq, sealed_len = _AUD.unpack(take(_AUD.size))
        snap.audit.append((seq, take(sealed_len)))
    if pos != len(view):
        raise ValueError("trailing bytes")
    return snap


def write_backup(
    path: Path, snap: Snapshot, passphrase: str, *, created_at: int = 0, rng: Rng = os.urandom
) -> None:
    """Seal ``snap`` under a fresh Argon2id key from ``passphrase`` and write it atomically."""
    params = KdfParams.fresh(rng)
    header = canonical_dumps(
        {"format": FORMAT, "kdf": params.to_json(), "aead": "aes-256-gcm", "created_at": created_at}
    )
    prefix = MAGIC + _U32.pack(len(header)) + header
    body = seal(derive_kek(passphrase, params), _encode(snap), prefix, rng)
    try:
        atomic_write(path, prefix + body)
    except OSError as exc:
        raise BackupError(f"cannot write backup {path}: {exc.strerror}") from exc


def read_backup(path: Path, passphrase: str) -> Snapshot:
    """Open a backup. Wrong passphrase or any damage: :class:`BackupError`."""
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise BackupError(f"cannot read backup {path}: {exc.strerror}") from exc
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + _U32.size:
        raise BackupError(f"{path} is not a kluis backup")
    (hlen,) = _U32.unpack_from(blob, len(MAGIC))
    start = len(MAGIC) + _U32.size
    if hlen > MAX_HEADER or start + hlen > len(blob):
        raise BackupError(f"{path} is not a kluis backup (bad header)")
    try:
        header = canonical_loads(blob[start : start + hlen])
        if header.get("format") != FORMAT:
            raise BackupError(f"unsupported backup format in {path}")
        params = KdfParams.from_json(header["kdf"])
    except (CanonicalError, KeyError, AttributeError, VaultError) as exc:
        if isinstance(exc, BackupError):
            raise
        raise BackupError(f"{path} has an unreadable header") from exc
    try:
        payload = open_sealed(
            derive_kek(passphrase, params), blob[start + hlen :], blob[: start + hlen]
        )
    except CryptoFailure as exc:
        raise BackupError("wrong passphrase for this backup, or the file is damaged") from exc
    try:
        return _decode(payload)
    except (ValueError, struct.error, UnicodeDecodeError) as exc:
        raise BackupError("backup payload is malformed") from exc
