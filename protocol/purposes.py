"""The purpose vocabulary: why a requester wants data.

Codes are terms of the W3C Data Privacy Vocabulary (DPV, https://w3id.org/dpv),
written as compact IRIs (``dpv:ServiceProvision``) on the wire, so a receipt or
an audit entry can be read by any DPV-aware tool. The set is deliberately small:
the owner must be able to understand every code at a glance, and policy rules
are written against them. The requester adds free text to say more.

DPV arranges these terms in a hierarchy (``skos:broader``): for example
``DirectMarketing`` and ``PersonalisedAdvertising`` are narrower than
``Marketing``, and ``CustomerCare`` is narrower than ``CustomerManagement``.
kluis treats every code as distinct: a grant for ``Marketing`` does not cover
``DirectMarketing``, nor the other way round. Exact matching is what the owner
approved; subsumption would widen a grant behind their back.
"""

from __future__ import annotations

from enum import StrEnum

from .wire import PurposeText, WireModel

__all__ = ["DPV_NAMESPACE", "Purpose", "PurposeCode"]

DPV_NAMESPACE = "https://w3id.org/dpv#"


class PurposeCode(StrEnum):
    """A DPV purpose. The value is the compact IRI used on the wire."""

    SERVICE_PROVISION = "dpv:ServiceProvision"
    DELIVERY_OF_GOODS = "dpv:DeliveryOfGoods"
    PAYMENT_MANAGEMENT = "dpv:PaymentManagement"
    CUSTOMER_MANAGEMENT = "dpv:CustomerManagement"
    CUSTOMER_CARE = "dpv:CustomerCare"
    COMMUNICATION_MANAGEMENT = "dpv:CommunicationManagement"
    SERVICE_PERSONALISATION = "dpv:ServicePersonalisation"
    PERSONALISED_BENEFITS = "dpv:PersonalisedBenefits"
    MARKETING = "dpv:Marketing"
    DIRECT_MARKETING = "dpv:DirectMarketing"
    PERSONALISED_ADVERTISING = "dpv:PersonalisedAdvertising"
    IDENTITY_VERIFICATION = "dpv:IdentityVerification"
    FRAUD_PREVENTION_AND_DETECTION = "dpv:FraudPreventionAndDetection"
    RESEARCH_AND_DEVELOPMENT = "dpv:ResearchAndDevelopment"
    LEGAL_COMPLIANCE = "dpv:LegalCompliance"

    @property
    def term(self) -> str:
        """The DPV term without prefix, e.g. ``ServiceProvision``."""
        return self.value.removeprefix("dpv:")

    @property
    def iri(self) -> str:
        """The full DPV IRI, e.g. ``https://w3id.org/dpv#ServiceProvision``."""
        return DPV_NAMESPACE + self.term

    @property
    def label(self) -> str:
        """A human label: ``Service Provision``."""
        out = []
        for i, ch in enumerate(self.term):
            if ch.isupper() and i and not self.term[i - 1].isupper():
                out.append(" ")
            out.append(ch)
        return "".join(out)


class Purpose(WireModel):
    """Why the data is wanted: a DPV code plus the requester's own words."""

    code: PurposeCode
    text: PurposeText = ""
