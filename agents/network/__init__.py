"""The agents on the network: intent casting, parallel negotiations, deal closing.

One idea per module:

* :mod:`._customer` — :class:`CustomerAgent`: casts an intent from an ephemeral
  node, negotiates with every business that answers, awards the best deal;
* :mod:`._business` — :func:`negotiate_intent`: one business's session from the
  initiator's seat, then signing the awarded deal;
* :mod:`._clock` — wall-clock time and the deal-closing timeout both sides share.

The names are imported from here (``from agents.network import CustomerAgent``)
or from :mod:`agents`; the private modules may move.
"""

from __future__ import annotations

from ._business import BusinessOutcome, OnAward, negotiate_intent
from ._clock import DEAL_TIMEOUT_S, wall_ms
from ._customer import (
    MAX_SESSIONS,
    Candidate,
    CustomerAgent,
    CustomerOutcome,
    DealCloser,
    IntentSpec,
)

__all__ = [
    "DEAL_TIMEOUT_S",
    "MAX_SESSIONS",
    "BusinessOutcome",
    "Candidate",
    "CustomerAgent",
    "CustomerOutcome",
    "DealCloser",
    "IntentSpec",
    "OnAward",
    "negotiate_intent",
    "wall_ms",
]
