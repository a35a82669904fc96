"""HPKE (RFC 9180) sealing to a recipient's key: the one recipe for store-and-forward.

Suite: KEM ML-KEM-768 + X25519 (hybrid, post-quantum), KDF HKDF-SHA256, AEAD
AES-256-GCM, from ``cryptography.hazmat.primitives.hpke``. The ciphertext is
``enc || ct`` as the library returns it (single-shot base mode). ``info``
binds a ciphertext to its context (sender, recipient, delivery id, position),
so a ciphertext cannot be replayed into another slot.

Keys: a :class:`HpkeKeyPair` is the ML-KEM-768 seed (64 bytes) plus the X25519
private key (32 bytes); the public key travels as hex of the ML-KEM public key
(1184 bytes) followed by the X25519 public key (32 bytes).
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from vault._exceptions import VaultError

__all__ = ["SUITE", "HpkeError", "HpkeKeyPair", "open_from", "public_key_from_hex", "seal_to"]

SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_MLKEM_PUB = 1184
_X_PUB = 32
_SECRET_LEN = 64 + 32


class HpkeError(VaultError):
    """A sealed delivery does not open (wrong key, wrong context, or tampered)."""


class HpkeKeyPair:
    """A recipient's HPKE key pair. ``secret_bytes`` is what gets stored (sealed)."""

    def __init__(self, mlkem_seed: bytes, x25519_raw: bytes) -> None:
        self._mlkem = mlkem.MLKEM768PrivateKey.from_seed_bytes(mlkem_seed)
        self._x = x25519.X25519PrivateKey.from_private_bytes(x25519_raw)
        self._seed = bytes(mlkem_seed)
        self._xraw = bytes(x25519_raw)
        self.private = hpke.MLKEM768X25519PrivateKey(self._mlkem, self._x)

    @classmethod
    def generate(cls) -> HpkeKeyPair:
        m = mlkem.MLKEM768PrivateKey.generate()
        x = x25519.X25519PrivateKey.generate()
        return cls(m.private_bytes_raw(), x.private_bytes_raw())

    @classmethod
    def from_secret_bytes(cls, raw: bytes) -> HpkeKeyPair:
        if len(raw) != _SECRET_LEN:
            raise HpkeError("not an HPKE key")
        return cls(raw[:64], raw[64:])

    def secret_bytes(self) -> bytes:
        return self._seed + self._xraw

    def public_hex(self) -> str:
        """The public key as announced on the wire (hex)."""
        return (
            self._mlkem.public_key().public_bytes_raw() + self._x.public_key().public_bytes_raw()
        ).hex()

    def open(self, sealed: bytes, info: bytes) -> bytes:
        return open_from(self, sealed, info)

    def __repr__(self) -> str:
        return "HpkeKeyPair(<secret>)"

    def __reduce__(self) -> Any:
        raise TypeError("HPKE keys are not picklable")


def public_key_from_hex(text: str) -> hpke.MLKEM768X25519PublicKey:
    """Parse an announced public key; raises :class:`HpkeError` if it is not one."""
    try:
        raw = bytes.fromhex(text)
        if len(raw) != _MLKEM_PUB + _X_PUB:
            raise ValueError("length")
        return hpke.MLKEM768X25519PublicKey(
            mlkem.MLKEM768PublicKey.from_public_bytes(raw[:_MLKEM_PUB]),
            x25519.X25519PublicKey.from_public_bytes(raw[_MLKEM_PUB:]),
        )
    except (ValueError, TypeError) as exc:
        raise HpkeError("not an HPKE public key") from exc


def seal_to(public_key: hpke.MLKEM768X25519PublicKey | str, plaintext: bytes, info: bytes) -> bytes:
    """Seal ``plaintext`` to ``public_key`` (object or announced hex) under context ``info``."""
    key = public_key_from_hex(public_key) if isinstance(public_key, str) else public_key
    return SUITE.encrypt(plaintext, key, info=info)


def open_from(pair: HpkeKeyPair, sealed: bytes, info: bytes) -> bytes:
    """Open what :func:`seal_to` sealed; :class:`HpkeError` on any failure."""
    try:
        return SUITE.decrypt(sealed, pair.private, info=info)
    except (InvalidTag, ValueError) as exc:
        raise HpkeError("the delivery does not open with this key") from exc
