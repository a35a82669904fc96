"""The business's own signed profile: set once, sent with every access request.

The profile (:class:`protocol.business.BusinessProfile`) is signed with the
business's identity key and kept sealed in its store (kind
``business_profile``). :meth:`OwnProfile.set` re-signs it with a fresh
``issued_at``; every access request made after that carries it
(``AccessRequest.business``), and so does the request an agreement produces.
Vaults show it instead of the peer id and check the website's domain against
``/.well-known/kluis.json`` (:func:`well_known` gives the file to publish).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from protocol import sign
from protocol.business import BusinessProfile, PostalAddress, well_known_document
from vault.requester._errors import RequesterError
from vault.store.vault import Vault

__all__ = ["PROFILE_KIND", "OwnProfile"]

PROFILE_KIND = "business_profile"
_NAME = "own"


class OwnProfile:
    """Read and replace the business's signed profile (cached in memory)."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault
        self._cached: BusinessProfile | None = None
        self._loaded = False

    def get(self) -> BusinessProfile | None:
        """The current signed profile, or ``None`` if none was set."""
        if not self._loaded:
            raw = self._vault.store.get(PROFILE_KIND, _NAME)
            self._cached = None if raw is None else BusinessProfile.model_validate_json(raw)
            self._loaded = True
        return self._cached

    def set(self, **fields: Any) -> BusinessProfile:
        """Sign and store a profile from ``fields`` (the model's names; ``address`` a dict).

        Fields not given keep their current value. Raises :class:`RequesterError`
        with a one-line reason if the profile is not valid (a bad URL, a name with
        control characters, too large...).
        """
        current = self.get()
        base: dict[str, Any] = (
            current.model_dump(mode="json", exclude={"sig", "type"}) if current else {}
        )
        address = fields.pop("address", None)
        if address is not None:
            base["address"] = {**base.get("address", {}), **address}
        base.update({k: v for k, v in fields.items() if v is not None})
        base["peer_id"] = self._vault.peer_id
        base["issued_at"] = int(self._vault.clock())
        try:
            if "address" in base:
                base["address"] = PostalAddress.model_validate(base["address"])
            profile = BusinessProfile.model_validate(base)
        except ValidationError as exc:
            err = exc.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(p) for p in err["loc"]) or "profile"
            raise RequesterError(f"invalid business profile: {where}: {err['msg']}") from None
        signed = sign(profile, self._vault.identity)
        with self._vault.transaction():
            self._vault.store.put(PROFILE_KIND, _NAME, signed.model_dump_json().encode())
            self._vault.audit.append("requester.profile", {"issued_at": signed.issued_at})
        self._cached, self._loaded = signed, True
        return signed

    def well_known(self) -> bytes:
        """The body to publish at ``https://<website host>/.well-known/kluis.json``."""
        return well_known_document(self._vault.peer_id)
