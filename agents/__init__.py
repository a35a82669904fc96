"""kluis agents: mandates, strategies, negotiation sessions, intent casting.

Everything here is sans-I/O: strategies, the alternating-offers session state
machine and the mandate guard run with no event loop and no network, in the
local simulator and, unchanged, over libp2p. The one exception is
:mod:`agents.network` (``CustomerAgent``, ``negotiate_intent``), which drives
them over :mod:`protocol.runtime` (imported lazily, on use). Public names are re-exported here
explicitly; ``tests/agents/test_public_api.py`` guards the list. The tournament
command lives in :mod:`agents.tournament` (``main(argv)``), imported on demand so
that ``python -m agents.tournament`` runs cleanly.
"""

from typing import TYPE_CHECKING

from protocol.reexport import lazy_exports

if TYPE_CHECKING:
    from ._errors import DomainError, IllegalMove, InvalidBid, MandateViolation, UnexpectedMove
    from .agreements import Agreement
    from .anac import (
        AnacError,
        Scenario,
        load_domain,
        load_preferences,
        load_scenario,
        load_scenarios,
    )
    from .default_strategy import DefaultStrategy
    from .domain import (
        Bid,
        BooleanIssue,
        CategoricalIssue,
        Domain,
        FieldsIssue,
        Issue,
        NumericIssue,
        OrdinalIssue,
    )
    from .intents import Intent, intent_topic, make_intent, parse_intent
    from .mandate import Mandate, MandatedAgent, MandateEvent, TermLimit
    from .metrics import (
        OutcomeAnalysis,
        distance,
        distance_to_frontier,
        nash_point,
        pareto_frontier,
        social_welfare,
    )
    from .network import (
        BusinessOutcome,
        CustomerAgent,
        CustomerOutcome,
        IntentSpec,
        negotiate_intent,
    )
    from .opponent_model import FrequencyModel
    from .session import (
        AcceptMove,
        CounterMove,
        EndMove,
        Move,
        NegotiationSession,
        OfferMove,
        RefuseMove,
        SessionState,
        dump_move,
        parse_move,
        render_transition_table,
    )
    from .simulator import ManualClock, SimulationResult, simulate
    from .strategy import (
        Accept,
        BaseStrategy,
        Boulware,
        Conceder,
        Counter,
        End,
        Linear,
        NegotiationContext,
        Refuse,
        Response,
        SessionView,
        Side,
        Strategy,
        TimeDependent,
        TitForTat,
    )
    from .utility import (
        Deadline,
        DiscreteEvaluator,
        FieldsEvaluator,
        LinearAdditiveUtility,
        NumericEvaluator,
        OutcomeSpace,
        Preferences,
        UtilityFunction,
    )

#: module -> the public names it defines; imported on first use (PEP 562).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "._errors": ("DomainError", "IllegalMove", "InvalidBid", "MandateViolation", "UnexpectedMove"),
    ".agreements": ("Agreement",),
    ".anac": (
        "AnacError",
        "Scenario",
        "load_domain",
        "load_preferences",
        "load_scenario",
        "load_scenarios",
    ),
    ".default_strategy": ("DefaultStrategy",),
    ".domain": (
        "Bid",
        "BooleanIssue",
        "CategoricalIssue",
        "Domain",
        "FieldsIssue",
        "Issue",
        "NumericIssue",
        "OrdinalIssue",
    ),
    ".intents": ("Intent", "intent_topic", "make_intent", "parse_intent"),
    ".mandate": ("Mandate", "MandatedAgent", "MandateEvent", "TermLimit"),
    ".metrics": (
        "OutcomeAnalysis",
        "distance",
        "distance_to_frontier",
        "nash_point",
        "pareto_frontier",
        "social_welfare",
    ),
    ".network": (
        "BusinessOutcome",
        "CustomerAgent",
        "CustomerOutcome",
        "IntentSpec",
        "negotiate_intent",
    ),
    ".opponent_model": ("FrequencyModel",),
    ".session": (
        "AcceptMove",
        "CounterMove",
        "EndMove",
        "Move",
        "NegotiationSession",
        "OfferMove",
        "RefuseMove",
        "SessionState",
        "dump_move",
        "parse_move",
        "render_transition_table",
    ),
    ".simulator": ("ManualClock", "SimulationResult", "simulate"),
    ".strategy": (
        "Accept",
        "BaseStrategy",
        "Boulware",
        "Conceder",
        "Counter",
        "End",
        "Linear",
        "NegotiationContext",
        "Refuse",
        "Response",
        "SessionView",
        "Side",
        "Strategy",
        "TimeDependent",
        "TitForTat",
    ),
    ".utility": (
        "Deadline",
        "DiscreteEvaluator",
        "FieldsEvaluator",
        "LinearAdditiveUtility",
        "NumericEvaluator",
        "OutcomeSpace",
        "Preferences",
        "UtilityFunction",
    ),
}

__all__ = [
    "Accept",
    "AcceptMove",
    "Agreement",
    "AnacError",
    "BaseStrategy",
    "Bid",
    "BooleanIssue",
    "Boulware",
    "BusinessOutcome",
    "CategoricalIssue",
    "Conceder",
    "Counter",
    "CounterMove",
    "CustomerAgent",
    "CustomerOutcome",
    "Deadline",
    "DefaultStrategy",
    "DiscreteEvaluator",
    "Domain",
    "DomainError",
    "End",
    "EndMove",
    "FieldsEvaluator",
    "FieldsIssue",
    "FrequencyModel",
    "IllegalMove",
    "Intent",
    "IntentSpec",
    "InvalidBid",
    "Issue",
    "Linear",
    "LinearAdditiveUtility",
    "Mandate",
    "MandateEvent",
    "MandateViolation",
    "MandatedAgent",
    "ManualClock",
    "Move",
    "NegotiationContext",
    "NegotiationSession",
    "NumericEvaluator",
    "NumericIssue",
    "OfferMove",
    "OrdinalIssue",
    "OutcomeAnalysis",
    "OutcomeSpace",
    "Preferences",
    "Refuse",
    "RefuseMove",
    "Response",
    "Scenario",
    "SessionState",
    "SessionView",
    "Side",
    "SimulationResult",
    "Strategy",
    "TermLimit",
    "TimeDependent",
    "TitForTat",
    "UnexpectedMove",
    "UtilityFunction",
    "distance",
    "distance_to_frontier",
    "dump_move",
    "intent_topic",
    "load_domain",
    "load_preferences",
    "load_scenario",
    "load_scenarios",
    "make_intent",
    "nash_point",
    "negotiate_intent",
    "pareto_frontier",
    "parse_intent",
    "parse_move",
    "render_transition_table",
    "simulate",
    "social_welfare",
]


_lazy_getattr, __dir__ = lazy_exports(__name__, _EXPORTS)


def __getattr__(name: str) -> object:
    # ``from agents import Reject`` fails with the new names in the message.
    if name == "Reject":
        from .strategy import RENAMED_REJECT

        raise ImportError(RENAMED_REJECT)
    return _lazy_getattr(name)
