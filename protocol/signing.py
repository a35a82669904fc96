"""Ed25519 identities and signatures over canonical JSON.

A node's signing key *is* its libp2p identity key, so a libp2p peer id is also
a verifiable identity: given a peer id we can recover the public key (Ed25519
peer ids inline the key) and check a signature without any directory.

Peer id encoding follows the libp2p spec: the protobuf ``PublicKey`` message
``{Type: Ed25519 (1), Data: <32 bytes>}`` wrapped in an *identity* multihash,
rendered in base58btc (the ``12D3KooW...`` form). The protobuf bytes for this
one fixed-size message are a constant 4-byte header; we build them directly
rather than pull a protobuf runtime into the sans-I/O core.

Every verification failure raises the same opaque :class:`SignatureError`.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from typing import Any

import base58
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ._exceptions import SignatureError
from .canonical import canonical_dumps

__all__ = [
    "Identity",
    "PublicIdentity",
    "peer_id_from_public_key",
    "public_key_from_peer_id",
    "sign_object",
    "verify_object",
]

# protobuf PublicKey{Type=Ed25519(1), Data=bytes(32)}: field1 varint 1, field2 len 32
_PB_ED25519_PREFIX = b"\x08\x01\x12\x20"
# identity multihash: code 0x00, length 0x24 (36 = 4 header + 32 key)
_MH_IDENTITY_PREFIX = b"\x00\x24"

SIGNATURE_FIELD = "sig"


def peer_id_from_public_key(raw_public_key: bytes) -> str:
    """The libp2p peer id (base58btc) of a raw 32-byte Ed25519 public key."""
    if len(raw_public_key) != 32:
        raise SignatureError("not an Ed25519 public key")
    return base58.b58encode(_MH_IDENTITY_PREFIX + _PB_ED25519_PREFIX + raw_public_key).decode()


@functools.lru_cache(maxsize=4096)
def public_key_from_peer_id(peer_id: str) -> bytes:
    """The raw Ed25519 public key inlined in an Ed25519 peer id.

    Cached (bounded): every frame names its peer, and base58 decoding in pure
    Python costs more than the checks that follow. Failures are not cached.
    """
    try:
        raw = base58.b58decode(peer_id.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise SignatureError("not an Ed25519 peer id") from exc
    prefix = _MH_IDENTITY_PREFIX + _PB_ED25519_PREFIX
    if len(raw) != len(prefix) + 32 or not raw.startswith(prefix):
        raise SignatureError("not an Ed25519 peer id")
    return raw[len(prefix) :]


class PublicIdentity:
    """A peer's verifiable identity: its Ed25519 public key and peer id."""

    __slots__ = ("_key", "peer_id", "public_bytes")

    def __init__(self, raw_public_key: bytes) -> None:
        self.peer_id = peer_id_from_public_key(raw_public_key)
        self.public_bytes = bytes(raw_public_key)
        self._key = Ed25519PublicKey.from_public_bytes(self.public_bytes)

    @classmethod
    def from_peer_id(cls, peer_id: str) -> PublicIdentity:
        return _identity_of(peer_id)

    def verify(self, signature: bytes, data: bytes) -> None:
        """Raise :class:`SignatureError` unless ``signature`` is ours over ``data``."""
        try:
            self._key.verify(signature, data)
        except (InvalidSignature, ValueError, TypeError) as exc:
            raise SignatureError("signature does not verify") from exc

    def __repr__(self) -> str:
        return f"PublicIdentity({self.peer_id})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicIdentity) and hmac.compare_digest(
            self.public_bytes, other.public_bytes
        )

    def __hash__(self) -> int:
        return hash(self.public_bytes)


class Identity(PublicIdentity):
    """A node's private identity. The 32-byte seed never appears in repr or logs."""

    __slots__ = ("_private", "_seed")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        private = Ed25519PrivateKey.from_private_bytes(seed)
        super().__init__(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
        self._private = private
        self._seed = bytes(seed)

    @classmethod
    def generate(cls) -> Identity:
        return cls(secrets.token_bytes(32))

    def seed(self) -> bytes:
        """The private seed, for sealing into the vault store or building a libp2p key."""
        return self._seed

    def public(self) -> PublicIdentity:
        return PublicIdentity(self.public_bytes)

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    def __repr__(self) -> str:
        return f"Identity({self.peer_id}, <private>)"

    def __reduce__(self) -> Any:
        raise TypeError("an Identity cannot be pickled")


@functools.lru_cache(maxsize=4096)
def _identity_of(peer_id: str) -> PublicIdentity:
    """Decoding a peer id (base58) and loading its key cost more than the signature check.

    Peers send many frames; the bounded cache keeps the work per frame to the
    check itself. Ids that fail to decode raise and are not cached.
    """
    return PublicIdentity(public_key_from_peer_id(peer_id))


def sign_object(identity: Identity, obj: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``obj`` with ``sig`` (hex) over the canonical encoding of the rest."""
    body = {k: v for k, v in obj.items() if k != SIGNATURE_FIELD}
    return {**body, SIGNATURE_FIELD: identity.sign(canonical_dumps(body)).hex()}


def verify_object(signer: PublicIdentity | str, obj: dict[str, Any]) -> None:
    """Check ``obj['sig']`` against ``signer`` (an identity or a peer id)."""
    who = PublicIdentity.from_peer_id(signer) if isinstance(signer, str) else signer
    sig = obj.get(SIGNATURE_FIELD)
    if not isinstance(sig, str):
        raise SignatureError("signature does not verify")
    try:
        raw = bytes.fromhex(sig)
    except ValueError as exc:
        raise SignatureError("signature does not verify") from exc
    body = {k: v for k, v in obj.items() if k != SIGNATURE_FIELD}
    who.verify(raw, canonical_dumps(body))
