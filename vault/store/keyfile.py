"""``keyfile.json``: Argon2id parameters and the wrapped data key (mid-rekey, the next one too).

Format versions, and why there are two:

* ``kluis-keyfile-v1``: ``{format, kdf, wrapped_key}``; the data key wrapped
  with AD ``kluis-kek-v1``. Vaults made before the audit high-water mark.
* ``kluis-keyfile-v2``: the same, wrapped with AD ``kluis-kek-v2``, plus
  ``next_key`` while a ``kluis rekey`` is under way (the new data key, AD
  ``kluis-kek-v2-next``). A v2 vault *must* have its ``audit.hwm``; binding the
  version into the wrap's AD means a v2 keyfile cannot be relabelled v1 to
  make a deleted mark look like an old vault. A v1 keyfile is upgraded to v2 the
  first time it is opened (the data key is rewrapped under the same KEK: no
  second Argon2id run).

The keyfile is written atomically (temp file, fsync, rename), so a crash leaves
either the old or the new one.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol import CanonicalError, canonical_dumps, canonical_loads
from vault._exceptions import StorageError, VaultError, VaultNotFound
from vault.home.atomic import atomic_write
from vault.home.paths import VaultPaths
from vault.store.crypto import (
    KdfParams,
    Rng,
    SecretKey,
    unwrap_key,
    wrap_key,
)

__all__ = ["FORMAT_V1", "FORMAT_V2", "Keyfile", "read_keyfile"]

FORMAT_V1 = "kluis-keyfile-v1"
FORMAT_V2 = "kluis-keyfile-v2"
_AD = {1: b"kluis-kek-v1", 2: b"kluis-kek-v2"}
_NEXT_AD = b"kluis-kek-v2-next"


@dataclass(frozen=True, slots=True)
class Keyfile:
    """One keyfile's content: KDF parameters, the wrapped key, maybe a pending next key."""

    params: KdfParams
    wrapped: bytes
    version: int = 2
    next_wrapped: bytes | None = None

    @classmethod
    def seal(
        cls,
        kek: SecretKey,
        params: KdfParams,
        data_key: SecretKey,
        *,
        next_key: SecretKey | None = None,
        rng: Rng,
    ) -> Keyfile:
        """A v2 keyfile wrapping ``data_key`` (and ``next_key``, mid-rekey) under ``kek``."""
        return cls(
            params,
            wrap_key(kek, data_key, rng, ad=_AD[2]),
            2,
            None if next_key is None else wrap_key(kek, next_key, rng, ad=_NEXT_AD),
        )

    def unwrap(self, kek: SecretKey) -> SecretKey:
        """The data key; :class:`~vault.store.crypto.CryptoFailure` for a wrong passphrase."""
        return unwrap_key(kek, self.wrapped, ad=_AD[self.version])

    def unwrap_next(self, kek: SecretKey) -> SecretKey | None:
        """The next data key of an unfinished rekey, if there is one."""
        return (
            None if self.next_wrapped is None else unwrap_key(kek, self.next_wrapped, ad=_NEXT_AD)
        )

    def to_bytes(self) -> bytes:
        data: dict[str, object] = {
            "format": FORMAT_V1 if self.version == 1 else FORMAT_V2,
            "kdf": self.params.to_json(),
            "wrapped_key": self.wrapped.hex(),
        }
        if self.next_wrapped is not None:
            data["next_key"] = self.next_wrapped.hex()
        return canonical_dumps(data) + b"\n"

    def write(self, paths: VaultPaths) -> None:
        atomic_write(paths.keyfile, self.to_bytes())


def read_keyfile(paths: VaultPaths) -> Keyfile:
    """Parse ``keyfile.json``; :class:`VaultNotFound` if there is no vault at all."""
    if not paths.keyfile.exists():
        if paths.database.exists():
            raise StorageError(f"{paths.keyfile} is missing; the vault cannot be unlocked")
        raise VaultNotFound(paths.home)
    try:
        data = canonical_loads(paths.keyfile.read_bytes().strip())
        version = {FORMAT_V1: 1, FORMAT_V2: 2}.get(data.get("format"))
        if version is None:
            raise StorageError(f"unsupported keyfile format in {paths.keyfile}")
        pending = data.get("next_key") if version == 2 else None
        return Keyfile(
            KdfParams.from_json(data["kdf"]),
            bytes.fromhex(data["wrapped_key"]),
            version,
            None if pending is None else bytes.fromhex(pending),
        )
    except StorageError:
        raise
    except (
        OSError,
        CanonicalError,
        VaultError,
        KeyError,
        AttributeError,
        TypeError,
        ValueError,
    ) as exc:
        raise StorageError(f"unreadable keyfile {paths.keyfile}") from exc
