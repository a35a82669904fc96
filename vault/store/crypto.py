"""The vault's crypto recipes, on top of ``cryptography``'s hazmat primitives.

Nothing here is a home-made primitive: Argon2id, HKDF-SHA256, HMAC-SHA256 and
AES-256-GCM all come from ``cryptography``. This module only fixes *how* they
are combined, so the rest of the vault never touches a nonce or a raw key:

* passphrase --Argon2id(salt, params)--> key-encryption key (KEK)
* KEK --AES-256-GCM, AD ``kluis-kek-v1``--> wraps the random 256-bit data key
* data key --HKDF--> a sealing root, a record-id (HMAC) key and a mark key
* :class:`Sealer`: AES-256-GCM under per-epoch subkeys of the sealing root,
  random 96-bit nonce per message, caller-supplied associated data (the
  record's identity). No subkey seals more than :data:`MAX_SEALS_PER_KEY`
  messages (see :class:`Sealer` for why and how).
* :func:`seal` / :func:`open_sealed`: plain AES-256-GCM for one-shot keys
  (key wrapping, backups: one message per key).

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
import threading
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
    "ENV_TEST_FAST_KDF",
    "KEY_BYTES",
    "MAX_SEALS_PER_KEY",
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

#: OWASP's minimum for Argon2id (2023 cheat sheet): m=19 MiB, t=2, p=1. The floor
#: below which stored parameters are refused; the default of vaults made before 2026-11.
OWASP_MEMORY_KIB = 19456
OWASP_ITERATIONS = 2
OWASP_LANES = 1

#: RFC 9106 §4, the second recommended option (for memory-constrained settings):
#: Argon2id, t=3, p=4, m=2^16 KiB (64 MiB). New keyfiles get it; `kluis passphrase`
#: and `kluis rekey` move older ones to it.
RFC9106_MEMORY_KIB = 65536
RFC9106_ITERATIONS = 3
RFC9106_LANES = 4

#: Test suites only: "1" makes *new* keyfiles use the OWASP floor (about 5x cheaper)
#: instead of RFC 9106, because a suite creates hundreds of vaults. It cannot go below
#: the floor (``check_strength``), which is what every vault used until RFC 9106 did.
ENV_TEST_FAST_KDF = "KLUIS_TEST_FAST_KDF"

#: Messages one sealing subkey may seal. With random 96-bit nonces, NIST SP 800-38D
#: §8.3 allows 2^32 invocations per key (nonce collision chance then below 2^-32).
MAX_SEALS_PER_KEY = 2**32
#: Sealed-blob header of the epoch format: magic, then the epoch id.
SEAL_V2_MAGIC = b"k\x02"
EPOCH_BYTES = 16


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
    memory_cost: int = RFC9106_MEMORY_KIB
    iterations: int = RFC9106_ITERATIONS
    lanes: int = RFC9106_LANES
    alg: Literal["argon2id"] = "argon2id"

    @classmethod
    def fresh(cls, rng: Rng = os.urandom) -> KdfParams:
        """A fresh salt with today's default costs (RFC 9106; the floor under test suites)."""
        if os.environ.get(ENV_TEST_FAST_KDF) == "1":
            return cls(rng(SALT_BYTES), OWASP_MEMORY_KIB, OWASP_ITERATIONS, OWASP_LANES)
        return cls(salt=rng(SALT_BYTES))

    @property
    def is_current(self) -> bool:
        """True if these costs are at least today's default (RFC 9106 second option)."""
        return (
            self.memory_cost >= RFC9106_MEMORY_KIB
            and self.iterations >= RFC9106_ITERATIONS
            and self.lanes >= RFC9106_LANES
        )

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
    return _seal(AESGCM(key.raw()), plaintext, ad, rng)


def open_sealed(key: SecretKey, blob: bytes, ad: bytes) -> bytes:
    """Inverse of :func:`seal`. Any failure is one opaque :class:`CryptoFailure`."""
    return _open(AESGCM(key.raw()), blob, ad)


# The one implementation of both directions; :func:`seal`/:func:`open_sealed` and
# :class:`Sealer` differ only in whether the AES-GCM context is built per call.


def _seal(aead: AESGCM, plaintext: bytes, ad: bytes, rng: Rng) -> bytes:
    nonce = rng(NONCE_BYTES)
    if not isinstance(nonce, bytes) or len(nonce) != NONCE_BYTES:
        raise ValueError("the rng must return 12 bytes for a nonce")
    return nonce + aead.encrypt(nonce, plaintext, ad)


def _open(aead: AESGCM, blob: bytes, ad: bytes) -> bytes:
    if not isinstance(blob, bytes) or len(blob) < NONCE_BYTES + 16:
        raise CryptoFailure()
    try:
        return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], ad)
    except (InvalidTag, ValueError, TypeError) as exc:
        raise CryptoFailure() from exc


def wrap_key(kek: SecretKey, key: SecretKey, rng: Rng = os.urandom, *, ad: bytes = KEK_AD) -> bytes:
    """Seal the data key under the KEK (AD ``kluis-kek-v1`` unless the keyfile format says)."""
    return seal(kek, key.raw(), ad, rng)


def unwrap_key(kek: SecretKey, wrapped: bytes, *, ad: bytes = KEK_AD) -> SecretKey:
    """Open a wrapped data key. A wrong passphrase shows up here as :class:`CryptoFailure`."""
    raw = open_sealed(kek, wrapped, ad)
    if len(raw) != KEY_BYTES:
        raise CryptoFailure()
    return SecretKey(raw)


class Sealer:
    """Seal/open under per-epoch subkeys of one root key; the form the store hands around.

    Why epochs: a vault seals about two messages per read for its whole life,
    and AES-GCM with random 96-bit nonces is only safe for 2^32 messages per key.
    So the root key never seals anything itself. Each sealer draws a random
    128-bit *epoch* id on its first seal, derives ``HKDF(root, epoch)`` and
    seals with that; after :data:`MAX_SEALS_PER_KEY` seals (counted in memory)
    it draws a new epoch. Every process (every open) starts its own epoch, so no
    counter has to survive a crash or be shared between processes; two epochs
    colliding is a 2^-128-per-pair event.

    Format: ``"k\\x02" || epoch (16) || nonce (12) || ciphertext+tag``. Blobs sealed
    before epochs (``nonce || ciphertext+tag`` under the old fixed seal key,
    ``legacy``) still open: a blob that does not open as the new format is tried
    as the old one. The old key never seals again.

    AES-GCM contexts are cached per epoch, so the key schedule is computed once
    per epoch rather than on every record. Sealing and opening under a context run
    the same code as :func:`seal`/:func:`open_sealed` (``_seal``/``_open``), checks
    included.
    """

    __slots__ = ("_aead", "_cache", "_count", "_epoch", "_legacy", "_lock", "_max", "_rng", "_root")

    #: Epoch contexts kept for opening; a vault has one epoch per process that wrote to it.
    CACHE_SIZE = 4096

    def __init__(
        self,
        root: SecretKey,
        rng: Rng = os.urandom,
        *,
        legacy: SecretKey | None = None,
        max_seals: int = MAX_SEALS_PER_KEY,
    ) -> None:
        self._root = root
        self._rng = rng
        self._legacy = None if legacy is None else AESGCM(legacy.raw())
        self._max = max_seals
        self._lock = threading.Lock()
        self._epoch = b""
        self._aead: AESGCM | None = None
        self._count = 0
        self._cache: dict[bytes, AESGCM] = {}

    def _epoch_aead(self, epoch: bytes) -> AESGCM:
        aead = self._cache.get(epoch)
        if aead is None:
            if len(self._cache) >= self.CACHE_SIZE:
                self._cache.clear()
            key = derive_subkey(self._root, b"kluis-seal-epoch-v2\x00" + epoch)
            aead = self._cache[epoch] = AESGCM(key.raw())
        return aead

    @property
    def epoch(self) -> bytes:
        """The current epoch id (empty before the first seal); for tests and figures."""
        return self._epoch

    def seal(self, plaintext: bytes, ad: bytes) -> bytes:
        with self._lock:
            if self._aead is None or self._count >= self._max:
                self._epoch = self._rng(EPOCH_BYTES)
                self._aead = self._epoch_aead(self._epoch)
                self._count = 0
            self._count += 1
            epoch, aead = self._epoch, self._aead
        return SEAL_V2_MAGIC + epoch + _seal(aead, plaintext, ad, self._rng)

    def open(self, blob: bytes, ad: bytes) -> bytes:
        if not isinstance(blob, bytes):
            raise CryptoFailure()
        head = len(SEAL_V2_MAGIC) + EPOCH_BYTES
        if blob[: len(SEAL_V2_MAGIC)] == SEAL_V2_MAGIC and len(blob) >= head + NONCE_BYTES + 16:
            try:
                return _open(self._epoch_aead(blob[len(SEAL_V2_MAGIC) : head]), blob[head:], ad)
            except CryptoFailure:
                pass  # may still be an old-format blob whose nonce starts with the magic
        if self._legacy is None:
            raise CryptoFailure()
        return _open(self._legacy, blob, ad)

    def __repr__(self) -> str:
        return "Sealer(<hidden>)"


class Keyring:
    """The unwrapped data key and the purpose keys derived from it (in memory only)."""

    __slots__ = ("data_key", "hwm_key", "id_key", "sealer")

    def __init__(self, data_key: SecretKey, rng: Rng = os.urandom) -> None:
        self.data_key = data_key
        self.sealer = Sealer(
            derive_subkey(data_key, b"kluis-seal-v2"),
            rng,
            legacy=derive_subkey(data_key, b"kluis-seal-v1"),  # rows sealed before epochs
        )
        self.id_key = derive_subkey(data_key, b"kluis-record-id-v1")
        self.hwm_key = derive_subkey(data_key, b"kluis-hwm-v1")

    @classmethod
    def generate(cls, rng: Rng = os.urandom) -> Keyring:
        return cls(SecretKey(rng(KEY_BYTES)), rng)

    def __repr__(self) -> str:
        return "Keyring(<hidden>)"
