"""The crypto recipe layer: opaque failures, bound associated data, no secrets in repr."""

from __future__ import annotations

import pytest

from vault._exceptions import VaultError
from vault.store.crypto import (
    CryptoFailure,
    KdfParams,
    Keyring,
    Sealer,
    SecretKey,
    derive_kek,
    open_sealed,
    seal,
    unwrap_key,
    wrap_key,
)


def test_seal_open_round_trip_and_ad_binding() -> None:
    key = SecretKey(bytes(range(32)))
    blob = seal(key, b"secret", b"ad-1")
    assert open_sealed(key, blob, b"ad-1") == b"secret"
    with pytest.raises(CryptoFailure):
        open_sealed(key, blob, b"ad-2")
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(CryptoFailure):
        open_sealed(key, flipped, b"ad-1")
    with pytest.raises(CryptoFailure):
        open_sealed(key, b"short", b"ad-1")


@pytest.mark.parametrize(
    "blob",
    [b"", b"x" * 27, bytearray(64), memoryview(bytes(64)), "not bytes at all, but long enough"],
)
def test_sealer_and_open_sealed_refuse_the_same_way(blob: object) -> None:
    key = SecretKey(bytes(range(32)))
    for open_ in (Sealer(key).open, lambda b, ad: open_sealed(key, b, ad)):
        with pytest.raises(CryptoFailure):
            open_(blob, b"ad")  # type: ignore[arg-type]


def test_sealer_seals_under_epochs_and_still_opens_the_functions_format() -> None:
    key = SecretKey(bytes(range(32)))
    sealer = Sealer(key, legacy=key)
    assert sealer.open(sealer.seal(b"secret", b"ad"), b"ad") == b"secret"
    assert sealer.open(seal(key, b"secret", b"ad"), b"ad") == b"secret"  # pre-epoch rows
    with pytest.raises(CryptoFailure):  # the root key itself never seals a record
        open_sealed(key, sealer.seal(b"secret", b"ad"), b"ad")
    with pytest.raises(ValueError, match="12 bytes"):  # a broken rng, caught on sealing
        Sealer(key, rng=lambda n: bytes(n - 1)).seal(b"x", b"ad")


def test_nonces_are_fresh() -> None:
    key = SecretKey(bytes(32))
    assert seal(key, b"x", b"") != seal(key, b"x", b"")


def test_wrap_with_wrong_passphrase_is_opaque_failure() -> None:
    params = KdfParams.fresh()
    data_key = SecretKey(bytes(range(32)))
    wrapped = wrap_key(derive_kek("right passphrase", params), data_key)
    assert unwrap_key(derive_kek("right passphrase", params), wrapped) == data_key
    with pytest.raises(CryptoFailure) as info:
        unwrap_key(derive_kek("wrong passphrase", params), wrapped)
    assert str(info.value) == "authentication failed"


def test_passphrase_is_nfc_normalised() -> None:
    params = KdfParams.fresh()
    assert derive_kek("caf\u00e9 au lait", params) == derive_kek("cafe\u0301 au lait", params)


def test_kdf_params_enforce_owasp_minimum() -> None:
    with pytest.raises(VaultError):
        KdfParams(salt=bytes(16), memory_cost=1024).check_strength()
    params = KdfParams.fresh()
    assert KdfParams.from_json(params.to_json()) == params
    weak = {**params.to_json(), "iterations": 1}
    with pytest.raises(VaultError):
        KdfParams.from_json(weak)


def test_secrets_never_in_repr() -> None:
    raw = bytes(range(32))
    key = SecretKey(raw)
    ring = Keyring(key)
    for text in (repr(key), str(key), repr(ring), repr(ring.sealer)):
        assert raw.hex() not in text and "hidden" in text
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(key)
