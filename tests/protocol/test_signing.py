"""Ed25519 identities, signatures over canonical JSON, and libp2p-compatible peer ids."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.id import ID

from protocol import (
    Identity,
    PublicIdentity,
    SignatureError,
    peer_id_from_public_key,
    public_key_from_peer_id,
    sign_object,
    verify_object,
)


def test_peer_id_matches_libp2p() -> None:
    for _ in range(5):
        pair = create_new_key_pair()
        raw = pair.public_key.to_bytes()
        assert peer_id_from_public_key(raw) == ID.from_pubkey(pair.public_key).to_base58()


def test_identity_from_libp2p_seed_has_the_same_peer_id() -> None:
    seed = bytes(range(32))
    pair = create_new_key_pair(seed)
    assert Identity(seed).peer_id == ID.from_pubkey(pair.public_key).to_base58()


@settings(max_examples=50)
@given(st.binary(min_size=32, max_size=32))
def test_peer_id_round_trip(raw: bytes) -> None:
    peer_id = peer_id_from_public_key(raw)
    assert peer_id.startswith("12D3KooW")
    assert public_key_from_peer_id(peer_id) == raw
    assert PublicIdentity.from_peer_id(peer_id).public_bytes == raw


@pytest.mark.parametrize(
    "bad", ["", "not-base58!", "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N", "1" * 52]
)
def test_bad_peer_ids(bad: str) -> None:
    with pytest.raises(SignatureError):
        public_key_from_peer_id(bad)


def test_sign_and_verify() -> None:
    me = Identity.generate()
    signed = sign_object(me, {"b": 2, "a": [1, "x"]})
    verify_object(me.peer_id, signed)
    verify_object(me.public(), signed)
    # key order and whitespace do not matter: the signature covers the canonical form
    verify_object(me.peer_id, dict(reversed(list(signed.items()))))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda o: {**o, "a": 2},
        lambda o: {**o, "extra": True},
        lambda o: {k: v for k, v in o.items() if k != "a"},
        lambda o: {**o, "sig": o["sig"][:-2] + ("00" if o["sig"][-2:] != "00" else "11")},
        lambda o: {**o, "sig": "zz"},
        lambda o: {**o, "sig": 5},
        lambda o: {k: v for k, v in o.items() if k != "sig"},
    ],
)
def test_tampering_is_detected(tamper) -> None:  # type: ignore[no-untyped-def]
    me = Identity.generate()
    signed = sign_object(me, {"a": 1})
    with pytest.raises(SignatureError):
        verify_object(me.peer_id, tamper(signed))


def test_wrong_signer() -> None:
    signed = sign_object(Identity.generate(), {"a": 1})
    with pytest.raises(SignatureError):
        verify_object(Identity.generate().peer_id, signed)


def test_identity_keeps_its_secret() -> None:
    me = Identity.generate()
    assert me.seed().hex() not in repr(me)
    with pytest.raises(TypeError):
        pickle.dumps(me)
    with pytest.raises(ValueError):
        Identity(b"short")
    assert me.public() == PublicIdentity(me.public_bytes)
    assert hash(me.public()) == hash(PublicIdentity(me.public_bytes))
