"""A valid signed business profile for tests (one place, so every test builds the same)."""

from __future__ import annotations

from typing import Any

from protocol import Identity, sign
from protocol.business import BusinessProfile, PostalAddress

NOW = 1_700_000_000_000


def profile(who: Identity, **changes: Any) -> BusinessProfile:
    fields: dict[str, Any] = {
        "peer_id": who.peer_id,
        "display_name": "Fietsenwinkel De Spaak",
        "legal_name": "De Spaak Fietsen B.V.",
        "contact_email": "privacy@despaak.nl",
        "jurisdiction": "NL",
        "privacy_policy_url": "https://despaak.nl/privacy",
        "website": "https://despaak.nl",
        "contact_name": "Privacy desk",
        "phone": "+31201234567",
        "address": PostalAddress(
            street="Spaakstraat 1", postal_code="1011 AB", locality="Amsterdam", country="NL"
        ),
        "issued_at": NOW,
    }
    fields.update(changes)
    return sign(BusinessProfile(**fields), who)
