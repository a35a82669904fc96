"""A business's signed profile, and the ``/.well-known/kluis.json`` file that verifies its domain.

A peer id says *which key* asks; it does not say *who* asks. The business
therefore signs a :class:`BusinessProfile` with the same libp2p identity key
(names, website, privacy-policy URL, contact, jurisdiction: the data
controller's fields that the W3C DPV and the Kantara Consent Receipt need)
and sends it inside every :class:`~protocol.AccessRequest` (field
``business``). The owner sees it instead of the bare peer id, and every
consent receipt carries it as the controller.

A signature proves only that the key holder *claims* these facts. The domain
check closes the gap for the website: the business publishes its peer id at
``https://<website host>/.well-known/kluis.json``::

    {"peer_ids": ["12D3KooW..."]}

and the vault fetches and compares it (``vault/services/identity.py``). A file
that names other peer ids only is *unverified*, as is a missing or oversized
one. Everything here is sans-I/O: models and pure functions.

Rules the models enforce (a peer that breaks one sends invalid protocol):

* names (:func:`protocol.confusables.check_name`): NFC, no control, format or
  bidi characters, ordinary spaces only, bounded length;
* URLs: ``https`` only, a DNS host name in ASCII (internationalised names in
  their ``xn--`` form, so a homograph domain shows as what it is), no port,
  user info, IP literal or fragment;
* the whole signed profile is at most :data:`~protocol.limits.MAX_PROFILE_BYTES`
  of canonical JSON.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints, ValidationError, model_validator

from . import limits
from ._exceptions import MalformedFrame
from .canonical import canonical_dumps, canonical_loads
from .confusables import check_name
from .signed import Signed
from .wire import PeerId, ShortText, TimestampMs, WireModel

__all__ = [
    "WELL_KNOWN_PATH",
    "BusinessProfile",
    "PostalAddress",
    "parse_well_known",
    "well_known_document",
]

#: Where a business publishes the peer ids its domain vouches for.
WELL_KNOWN_PATH = "/.well-known/kluis.json"

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _dns_host(host: str) -> str:
    if not host or len(host) > 253 or not host.isascii():
        raise ValueError("the host must be an ASCII DNS name (use the xn-- form)")
    labels = host.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise ValueError("the host must be a DNS name such as example.com")
    if labels[-1].isdigit():
        raise ValueError("an IP address is not a domain")
    return host


@functools.lru_cache(maxsize=1024)
def _https_url(value: str) -> str:
    if not value.isascii() or any(ch.isspace() for ch in value):
        raise ValueError("a URL is ASCII without spaces")
    parts = urlsplit(value)
    if parts.scheme != "https":
        raise ValueError("only https URLs are accepted")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise ValueError("no user info or fragment in a URL")
    netloc = parts.netloc
    if ":" in netloc or netloc != netloc.lower():
        raise ValueError("no port, and a lower-case host")
    _dns_host(netloc)
    return value


@functools.lru_cache(maxsize=1024)
def _email(value: str) -> str:
    # Cached (bounded): a business sends the same address with every request, and the
    # full syntax check costs more than the signature check. Failures are not cached.
    # Imported here, not at the top: the store imports this module, and `kluis get`
    # should not load an e-mail parser it never uses (issue 14 §2).
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError("not an e-mail address") from exc
    return value


def _jurisdiction(value: str) -> str:
    if not re.fullmatch(r"[A-Z]{2}(-[A-Z0-9]{1,3})?", value):
        raise ValueError("an ISO 3166 code: NL, or a subdivision such as US-CA")
    return value


#: A person's or organisation's name as shown to the owner.
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=limits.MAX_NAME_CHARS),
    AfterValidator(check_name),
]
#: An ``https://`` URL on a DNS host (see the module docstring).
HttpsUrl = Annotated[
    str, StringConstraints(max_length=limits.MAX_TEXT_FIELD_SMALL), AfterValidator(_https_url)
]
Email = Annotated[str, StringConstraints(min_length=3, max_length=254), AfterValidator(_email)]
#: ISO 3166-1 alpha-2, optionally with an ISO 3166-2 subdivision (``US-CA``).
Jurisdiction = Annotated[str, AfterValidator(_jurisdiction)]
#: E.164 phone number: ``+`` and 7 to 15 digits.
Phone = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")]
_Line = Annotated[ShortText, AfterValidator(lambda v: check_name(v) if v else v)]
_Country = Annotated[str, StringConstraints(pattern=r"^([A-Z]{2})?$")]


class PostalAddress(WireModel):
    """The controller's postal address (schema.org ``PostalAddress`` names in the exports)."""

    street: _Line = ""
    postal_code: Annotated[str, StringConstraints(max_length=16, pattern=r"^[A-Za-z0-9 -]*$")] = ""
    locality: _Line = ""
    country: _Country = ""

    @property
    def empty(self) -> bool:
        return not (self.street or self.postal_code or self.locality or self.country)


class BusinessProfile(Signed):
    """Who a requester is, signed by its own identity key (``peer_id``).

    Required: ``display_name`` (what the owner sees), ``legal_name`` (the data
    controller), ``contact_email``, ``jurisdiction`` and ``privacy_policy_url``.
    ``website`` is optional, but only a website's domain can be verified.
    ``issued_at`` orders a business's profiles; a newer one replaces an older.
    """

    signer_field: ClassVar[str] = "peer_id"

    type: Literal["business_profile"] = "business_profile"
    peer_id: PeerId
    display_name: Name
    legal_name: Name
    contact_email: Email
    jurisdiction: Jurisdiction
    privacy_policy_url: HttpsUrl
    website: HttpsUrl | Literal[""] = ""
    contact_name: Name | Literal[""] = ""
    phone: Phone | Literal[""] = ""
    address: PostalAddress = Field(default_factory=PostalAddress)
    issued_at: TimestampMs

    @model_validator(mode="after")
    def _bounded(self) -> BusinessProfile:
        size = len(canonical_dumps(self.model_dump(mode="json")))
        if size > limits.MAX_PROFILE_BYTES:
            raise ValueError(f"a business profile is at most {limits.MAX_PROFILE_BYTES} bytes")
        return self

    @property
    def domain(self) -> str | None:
        """The host of ``website``: the domain a ``.well-known`` file can verify."""
        return urlsplit(self.website).hostname if self.website else None

    def same_facts(self, other: BusinessProfile) -> bool:
        """True if ``other`` says the same things (ignoring ``issued_at`` and the signature)."""
        skip = {"issued_at", "sig"}
        return self.model_dump(exclude=skip) == other.model_dump(exclude=skip)


def parse_well_known(data: bytes) -> frozenset[str]:
    """The peer ids a ``/.well-known/kluis.json`` body names. Raises :class:`MalformedFrame`.

    Unknown keys are ignored (later versions may add some); ``peer_ids`` must be
    a list of 1 to :data:`~protocol.limits.MAX_WELL_KNOWN_PEERS` Ed25519 peer ids.
    """
    if len(data) > limits.MAX_WELL_KNOWN_BYTES:
        raise MalformedFrame("the .well-known file is too large")
    value: Any = canonical_loads(data)
    if not isinstance(value, dict):
        raise MalformedFrame("the .well-known file is not a JSON object")
    try:
        doc = _WellKnown.model_validate({"peer_ids": value.get("peer_ids")})
    except ValidationError as exc:
        raise MalformedFrame("the .well-known file has no valid peer_ids list") from exc
    return frozenset(doc.peer_ids)


def well_known_document(*peer_ids: str) -> bytes:
    """The ``/.well-known/kluis.json`` body a business publishes for ``peer_ids``."""
    doc = _WellKnown.model_validate({"peer_ids": list(peer_ids)})
    return canonical_dumps({"peer_ids": list(doc.peer_ids)}) + b"\n"


class _WellKnown(WireModel):
    peer_ids: Annotated[
        tuple[PeerId, ...], Field(min_length=1, max_length=limits.MAX_WELL_KNOWN_PEERS)
    ]
