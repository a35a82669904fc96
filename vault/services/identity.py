"""Who is asking: the owner's view of each business (profile, domain check, petname, changes).

:class:`BusinessBook` answers one question for every surface (CLI, API,
dashboard, receipts): *what should the owner see instead of this peer id?*
Its answer is a :class:`BusinessLabel`, e.g. ``Fietsenwinkel De Spaak
(verified: despaak.nl)``.

Where the facts come from, and why:

* **Profiles** are not stored here. Each arrives signed inside an access
  request, and the grant book already keeps every request sealed; the book
  indexes them by peer id (loaded once, then kept current by
  :meth:`GrantBook.on_request`). So nothing a peer sends creates state in
  this module beyond what the grant book bounds already.
* **The owner's notes** (a petname, and which profile the owner has seen)
  are the only records this module writes: sealed store records of kind
  ``business_note``, created by owner actions only.
* **Changes.** The first profile a business sent is the baseline; when its
  latest profile says something else (names, website, policy, contact,
  jurisdiction, address: :meth:`BusinessProfile.same_facts`), the business is
  flagged ``changed`` until the owner marks the change seen (:meth:`mark_seen`),
  which makes the latest profile the new baseline. A re-signed profile with
  the same facts is not a change.
* **Domains** are checked by :class:`~vault.services.domain_check.DomainVerifier`
  in the background when a request arrives (and when the owner asks); labels
  read its cache and never wait for the network.
* **Look-alikes.** A name with mixed scripts, or one that poses as Latin, is
  flagged (:func:`protocol.confusables.name_flags`); so is a business whose
  name looks the same as another business's (:func:`protocol.confusables.skeleton`).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from protocol import KluisError, canonical_dumps, canonical_loads
from protocol.business import BusinessProfile
from protocol.confusables import check_name, name_flags, skeleton
from vault._exceptions import VaultError
from vault.services.domain_check import CHECKING, VERIFIED, DomainVerifier
from vault.services.grantbook import GrantBook, NotFound, RequestState
from vault.store.vault import Vault

__all__ = ["NOTE_KIND", "BusinessBook", "BusinessLabel", "InvalidPetname"]

log = logging.getLogger(__name__)

NOTE_KIND = "business_note"
MAX_PETNAME = 64
#: The flag for two businesses whose names look alike.
SAME_NAME = "same_name_as_another"

_FLAG_TEXT = {
    "mixed_script": "name mixes alphabets",
    "looks_latin": "name imitates Latin letters",
    SAME_NAME: "looks like another business's name",
}


class InvalidPetname(VaultError):
    """The petname is empty, too long, or has control, format or bidi characters."""


def short_peer(peer: str) -> str:
    return peer if len(peer) <= 16 else f"{peer[:8]}…{peer[-6:]}"


def _load_note(raw: bytes) -> dict[str, Any] | None:
    try:
        note = canonical_loads(raw)
    except KluisError:  # a corrupt note loses only the owner's petname
        log.warning("an owner's note on a business is unreadable; ignored")
        return None
    return note if isinstance(note, dict) else None


def facts_digest(profile: BusinessProfile) -> str:
    """A hash of what a profile *says* (not when it was signed): equal facts, equal digest."""
    body = profile.model_dump(mode="json", exclude={"issued_at", "sig"})
    return hashlib.sha256(canonical_dumps(body)).hexdigest()


@dataclass(frozen=True, slots=True)
class BusinessLabel:
    """What the owner sees for one business."""

    peer_id: str
    petname: str | None
    profile: BusinessProfile | None
    verification: str  # verified | unverified | checking
    reason: str
    changed: bool
    flags: tuple[str, ...]

    @property
    def display_name(self) -> str | None:
        return self.profile.display_name if self.profile is not None else None

    @property
    def domain(self) -> str | None:
        return self.profile.domain if self.profile is not None else None

    @property
    def name(self) -> str:
        """Petname, else the profile's display name, else the shortened peer id."""
        return self.petname or self.display_name or short_peer(self.peer_id)

    @property
    def status_text(self) -> str:
        """``verified: despaak.nl``, ``checking: despaak.nl`` or ``unverified``."""
        if self.verification == VERIFIED and self.domain:
            return f"verified: {self.domain}"
        if self.verification == CHECKING and self.domain:
            return f"checking: {self.domain}"
        return "unverified"

    @property
    def text(self) -> str:
        """``Fietsenwinkel De Spaak (verified: despaak.nl)``, plus warnings in brackets."""
        out = f"{self.name} ({self.status_text})"
        if self.petname and self.display_name and self.petname != self.display_name:
            out = f"{self.petname} · {self.display_name} ({self.status_text})"
        warnings = self.warnings
        return out + "".join(f" [{w}]" for w in warnings)

    @property
    def warnings(self) -> list[str]:
        out = ["profile changed"] if self.changed else []
        out += [_FLAG_TEXT.get(f, f) for f in self.flags]
        return out

    def to_json(self) -> dict[str, Any]:
        p = self.profile
        return {
            "peer_id": self.peer_id,
            "name": self.name,
            "text": self.text,
            "petname": self.petname,
            "display_name": self.display_name,
            "legal_name": p.legal_name if p is not None else None,
            "website": (p.website or None) if p is not None else None,
            "privacy_policy_url": p.privacy_policy_url if p is not None else None,
            "contact_email": p.contact_email if p is not None else None,
            "jurisdiction": p.jurisdiction if p is not None else None,
            "domain": self.domain,
            "verification": self.verification,
            "verification_reason": self.reason,
            "changed": self.changed,
            "flags": list(self.flags),
            "warnings": self.warnings,
        }


@dataclass(slots=True)
class _Seen:
    """The profiles one business sent, as far as the owner needs them."""

    first: BusinessProfile
    latest: BusinessProfile
    previous: BusinessProfile | None = None  # the latest profile before the last change


class BusinessBook:
    """Labels, petnames and change flags for every business that asked this vault."""

    def __init__(
        self, vault: Vault, grants: GrantBook, verifier: DomainVerifier | None = None
    ) -> None:
        self.vault = vault
        self.grants = grants
        self.verifier = verifier
        self._seen: dict[str, _Seen] = {}
        self._by_look: dict[str, set[str]] = {}  # name skeleton -> peers whose latest name has it
        self._notes: dict[str, dict[str, Any]] = {}
        for name, raw in vault.store.items(NOTE_KIND, errors=[]):
            note = _load_note(raw)
            if note is not None:
                self._notes[name] = note
        for state in grants.requests():
            self._observe(state.request.business)
        self._unhook = grants.on_request(self._on_request)

    # -- what arrives ------------------------------------------------------------------

    def _on_request(self, state: RequestState) -> None:
        profile = state.request.business
        self._observe(profile)
        if profile is not None and profile.domain and self.verifier is not None:
            self.verifier.schedule(profile.peer_id, profile.domain)

    def _observe(self, profile: BusinessProfile | None) -> None:
        if profile is None:
            return
        peer = profile.peer_id
        seen = self._seen.get(peer)
        if seen is None:
            seen = self._seen[peer] = _Seen(profile, profile)
        elif profile.issued_at >= seen.latest.issued_at:
            self._by_look.get(skeleton(seen.latest.display_name), set()).discard(peer)
            if not profile.same_facts(seen.latest):
                seen.previous = seen.latest
            seen.latest = profile
        self._by_look.setdefault(skeleton(seen.latest.display_name), set()).add(peer)

    # -- reading -------------------------------------------------------------------------

    def profile(self, peer_id: str) -> BusinessProfile | None:
        """The newest profile this business sent, if any."""
        seen = self._seen.get(peer_id)
        return seen.latest if seen is not None else None

    def previous(self, peer_id: str) -> BusinessProfile | None:
        """The profile before the latest change (to show what changed)."""
        seen = self._seen.get(peer_id)
        return seen.previous if seen is not None else None

    def changed(self, peer_id: str) -> bool:
        """True if the latest profile says something the owner has not seen."""
        seen = self._seen.get(peer_id)
        if seen is None:
            return False
        acknowledged = self._notes.get(peer_id, {}).get("seen") or facts_digest(seen.first)
        return facts_digest(seen.latest) != acknowledged

    def label(self, peer_id: str) -> BusinessLabel:
        """What to show for ``peer_id`` (never waits for the network)."""
        profile = self.profile(peer_id)
        petname = self._notes.get(peer_id, {}).get("petname") or None
        status, reason = "unverified", "the business sent no profile"
        if profile is not None:
            status, reason = "unverified", "the profile names no website"
            if profile.domain and self.verifier is not None:
                check = self.verifier.result(peer_id, profile.domain)
                if check is None:
                    self.verifier.schedule(peer_id, profile.domain)
                    status, reason = CHECKING, ""
                else:
                    status, reason = check.status, check.reason
        flags: list[str] = []
        if profile is not None:
            flags += name_flags(profile.display_name)
            if self._by_look.get(skeleton(profile.display_name), set()) - {peer_id}:
                flags.append(SAME_NAME)
        return BusinessLabel(
            peer_id, petname, profile, status, reason, self.changed(peer_id), tuple(flags)
        )

    def businesses(self) -> list[BusinessLabel]:
        """Every business that asked (with or without a profile), or has a petname."""
        peers = {r.request.requester for r in self.grants.requests()}
        peers |= {g.grant.requester for g in self.grants.grants()}
        peers |= set(self._notes)
        return sorted(
            (self.label(p) for p in peers), key=lambda lb: (lb.name.casefold(), lb.peer_id)
        )

    # -- the owner's notes ---------------------------------------------------------------

    def set_petname(self, peer_id: str, petname: str | None) -> BusinessLabel:
        """Give a business the owner's own name for it (``None`` or ``""`` removes it)."""
        text = (petname or "").strip()
        if text:
            try:
                check_name(text)
            except ValueError as exc:
                raise InvalidPetname(f"invalid petname: {exc}") from None
            if len(text) > MAX_PETNAME:
                raise InvalidPetname(f"a petname is at most {MAX_PETNAME} characters")
        self._known(peer_id)
        self._write(peer_id, "business.petname", {"peer": peer_id, "set": bool(text)},
                    petname=text or None)  # fmt: skip
        return self.label(peer_id)

    def mark_seen(self, peer_id: str) -> BusinessLabel:
        """The owner has seen this business's latest profile: it becomes the baseline."""
        self._known(peer_id)
        latest = self.profile(peer_id)
        if latest is not None:
            self._write(peer_id, "business.seen", {"peer": peer_id}, seen=facts_digest(latest))
            self._seen[peer_id].previous = None
        return self.label(peer_id)

    async def refresh(self, peer_id: str) -> BusinessLabel:
        """Check the business's domain now (the owner asked), then label it."""
        profile = self.profile(peer_id)
        if profile is not None and profile.domain and self.verifier is not None:
            await self.verifier.check(peer_id, profile.domain)
        return self.label(peer_id)

    def _known(self, peer_id: str) -> None:
        if peer_id not in self._seen and not any(
            r.request.requester == peer_id for r in self.grants.requests()
        ):
            raise NotFound("no business with that peer id has asked this vault")

    def _write(self, peer_id: str, audit: str, detail: dict[str, Any], **changes: Any) -> None:
        note = {**self._notes.get(peer_id, {}), **changes}
        with self.vault.transaction():
            self.vault.store.put(NOTE_KIND, peer_id, canonical_dumps(note))
            self.vault.audit.append(audit, detail)
        self._notes[peer_id] = note

    def close(self) -> None:
        self._unhook()
