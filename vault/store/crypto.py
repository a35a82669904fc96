"""The vault's crypto recipes, on top of ``cryptography``'s hazmat primitives.

Nothing here is a home-made primitive: Argon2id, HKDF-SHA256, HMAC-SHA256 and
AES-256-GCM all come from ``cryptography``. This module only fixes *how* they
are combined, so the rest of the vault never touches a nonce or a raw key:

* passphrase --Argon2id(salt, params)--> key-encryption key (KEK)
* KEK --AES-256-GCM, AD ``kluis-kek-v1``--> wraps the random 256-bit data key
* data key --HKDF--> a sealing key and a record-id (HMAC) key
* :func:`seal` / :func:`open_sealed`: AES-256-GCM, random 96-bit nonce per
  message, caller-supplied associated data (the record's identity).

Every failure to unwrap or open raises the same opaque :class:`CryptoFailure`.
Callers turn it into :class:`WrongPassphrase`, :class:`CorruptRecord` or
:class:`BackupError`; we do not say *why* authentication failed, and the check
is the AEAD tag itself (constant time inside OpenSSL), never a comparison of
our own.

Keys live in :class:`SecretKey`, whose ``repr`` never shows the bytes.
Randomness is injectable (``rng``) so tests can be deterministic.
"""

from __future__ import annotations

import hmac as _stdlib_hmac
import os
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vault._exceptions import VaultError
from vault.store.jsonform import HexBytes, JsonRecord, parse_record

__all__ = [
    "KEY_BYTES",
    "NONCE_BYTES",
    "CryptoFailure",
    "KdfParams",
    "Keyring",
    "Rng",
    "Sealer",
    "SecretKey",
    "derive_kek",
    "derive_subkey",
    "encode_passphrase",
    "mac",
    "open_sealed",
    "seal",
    "unwrap_key",
    "wrap_key",
]

KEY_BYTES = 32
NONCE_BYTES = 12
SALT_BYTES = 16
KEK_AD = b"kluis-kek-v1"

#: Source of random bytes: ``rng(n) -> n bytes``.
Rng = Callable[[int], bytes]

#: OWASP's minimum for Argon2id (2023 cheat sheet): m=19 MiB, t=2, p=1.
OWASP_MEMORY_KIB = 19456
OWASP_ITERATIONS = 2
OWASP_LANES = 1


class CryptoFailure(VaultError):
    """Unwrapping or opening failed. Deliberately says nothing more."""

    def __init__(self) -> None:
        super().__init__("authentication failed")


class SecretKey:
    """A symmetric key held in memory. Its repr never shows the bytes."""

    __slots__ = ("_raw",)

    def __init__(self, raw: bytes) -> None:
        if len(raw) != KEY_BYTES:
            raise ValueError("a key is 32 bytes")
        self._raw = bytes(raw)

    def raw(self) -> bytes:
        """The key bytes. Only for handing to a primitive or into a sealed backup."""
        return self._raw

    def __repr__(self) -> str:
        return "SecretKey(<hidden>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretKey) and _stdlib_hmac.compare_digest(self._raw, other._raw)

    def __hash__(self) -> int:
        return id(self)

    def __reduce__(self) -> Any:
        raise TypeError("a SecretKey cannot be pickled")


@dataclass(frozen=True, slots=True)
class KdfParams(JsonRecord):
    """Argon2id parameters, stored beside the salt so they can be raised later."""

    salt: HexBytes
    memory_cost: int = OWASP_MEMORY_KIB
    iterations: int = OWASP_ITERATIONS
    lanes: int = OWASP_LANES
    alg: Literal["argon2id"] = "argon2id"

    @classmethod
    def fresh(cls, rng: Rng = os.urandom) -> KdfParams:
        return cls(salt=rng(SALT_BYTES))

    def check_strength(self) -> None:
        """Refuse anything weaker than the OWASP recommendation."""
        if (
            self.memory_cost < OWASP_MEMORY_KIB
            or self.iterations < OWASP_ITERATIONS
            or self.lanes < OWASP_LANES
            or len(self.salt) < SALT_BYTES
        ):
            raise VaultError("Argon2id parameters below the OWASP minimum")

    @classmethod
    def from_json(cls, data: Any) -> KdfParams:
        """Stored parameters, refused if unreadable or below :meth:`check_strength`."""
        try:
            params = parse_record(cls, data)
        except ValueError as exc:
            raise VaultError("unreadable key-derivation parameters") from exc
        params.check_strength()
        return params


def encode_passphrase(passphrase: str) -> bytes:
    """NFC-normalise then UTF-8 encode, so the same phrase typed anywhere unlocks."""
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def derive_kek(passphrase: str, params: KdfParams) -> SecretKey:
    """The key-encryption key: Argon2id of the passphrase. This is the slow step."""
    kdf = Argon2id(
        salt=params.salt,
        length=KEY_BYTES,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_cost,
    )
    return SecretKey(kdf.derive(encode_passphrase(passphrase)))


def derive_subkey(key: SecretKey, info: bytes) -> SecretKey:
    """A purpose-bound key from the data key (HKDF-SHA256), so one key has one job."""
    return SecretKey(
        HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(key.raw())
    )


def mac(key: SecretKey, data: bytes) -> bytes:
    """HMAC-SHA256; used for record ids, so a name maps to an id only with the key."""
    h = crypto_hmac.HMAC(key.raw(), hashes.SHA256())
    h.update(data)
    return h.finalize()


def seal(key: SecretKey, plaintext: bytes, ad: bytes, rng: Rng = os.urandom) -> bytes:
    """AES-256-GCM with a fresh random nonce. Output: ``nonce || ciphertext+tag``."""
    nonce = rng(NONCE_BYTES)
    return nonce + AESGCM(key.raw()).encrypt(nonce, plaintext, ad)


def open_sealed(key: SecretKey, blob: bytes, ad: bytes) -> bytes:
    """Inverse of :func:`seal`. Any failure is one opaque :class:`CryptoFailure`."""
    if not isinstance(blob, bytes) or len(blob) < NONCE_BYTES + 16:
        raise CryptoFailure()
    try:
        return AESGCM(key.raw()).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], ad)
    except (InvalidTag, ValueError) as exc:
        raise CryptoFailure() from exc


def wrap_key(kek: SecretKey, key: SecretKey, rng: Rng = os.urandom) -> bytes:
    """Seal the data key under the KEK (AD ``kluis-kek-v1``)."""
    return seal(kek, key.raw(), KEK_AD, rng)


def unwrap_key(kek: SecretKey, wrapped: bytes) -> SecretKey:
    """Open a wrapped data key. A wrong passphrase shows up here as :class:`CryptoFailure`."""
    raw = open_sealed(kek, wrapped, KEK_AD)
    if len(raw) != KEY_BYTES:
        raise CryptoFailure()
    return SecretKey(raw)


class Sealer:
    """Seal/open with one fixed key and an injected rng; the form the store hands around.

    It keeps one AES-GCM context, so the key schedule is computed once rather than
    on every record (the scoped-read path opens a dozen records per request).
    """

    __slots__ = ("_aead", "_key", "_rng")

    def __init__(self, key: SecretKey, rng: Rng = os.urandom) -> None:
        self._key = key
        self._rng = rng
        self._aead = AESGCM(key.raw())

    def seal(self, plaintext: bytes, ad: bytes) -> bytes:
        nonce = self._rng(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, ad)

    def open(self, blob: bytes, ad: bytes) -> bytes:
        if len(blob) < NONCE_BYTES + 16:
            raise CryptoFailure()
        try:
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], ad)
        except InvalidTag as exc:
            raise CryptoFailure() from exc

    def __repr__(self) -> str:
        return "Sealer(<hidden>)"


class Keyring:
    """The unwrapped data key and the purpose keys derived from it (in memory only)."""

    __slots__ = ("data_key", "id_key", "sealer")

    def __init__(self, data_key: SecretKey, rng: Rng = os.urandom) -> None:
        self.data_key = data_key
        self.sealer = Sealer(derive_subkey(data_key, b"kluis-seal-v1"), rng)
        self.id_key = derive_subkey(data_key, b"kluis-record-id-v1")

    @classmethod
    def generate(cls, rng: Rng = os.urandom) -> Keyring:
        return cls(SecretKey(rng(KEY_BYTES)), rng)

    def __repr__(self) -> str:
        return "Keyring(<hidden>)"
