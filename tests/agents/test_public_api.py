"""``agents.__all__`` is the public API: guard it against accidental changes."""

from __future__ import annotations

import agents
from tests.lazy_exports import check_lazy_exports

EXPECTED = {
    # domain
    "Bid",
    "BooleanIssue",
    "CategoricalIssue",
    "Domain",
    "FieldsIssue",
    "Issue",
    "NumericIssue",
    "OrdinalIssue",
    # utility
    "Deadline",
    "DiscreteEvaluator",
    "FieldsEvaluator",
    "LinearAdditiveUtility",
    "NumericEvaluator",
    "OutcomeSpace",
    "Preferences",
    "UtilityFunction",
    # ANAC
    "AnacError",
    "Scenario",
    "load_domain",
    "load_preferences",
    "load_scenario",
    "load_scenarios",
    # strategy API and strategies
    "Accept",
    "BaseStrategy",
    "Boulware",
    "Conceder",
    "Counter",
    "DefaultStrategy",
    "FrequencyModel",
    "Linear",
    "NegotiationContext",
    "End",
    "Refuse",
    "Response",
    "SessionView",
    "Side",
    "Strategy",
    "TimeDependent",
    "TitForTat",
    # session and wire moves
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
    # mandate
    "Mandate",
    "MandateEvent",
    "MandatedAgent",
    "TermLimit",
    # simulator and metrics
    "ManualClock",
    "SimulationResult",
    "simulate",
    "OutcomeAnalysis",
    "distance",
    "distance_to_frontier",
    "nash_point",
    "pareto_frontier",
    "social_welfare",
    # intents, agreements, the network agents
    "Agreement",
    "BusinessOutcome",
    "CustomerAgent",
    "CustomerOutcome",
    "Intent",
    "IntentSpec",
    "intent_topic",
    "make_intent",
    "negotiate_intent",
    "parse_intent",
    # errors
    "DomainError",
    "IllegalMove",
    "InvalidBid",
    "MandateViolation",
    "UnexpectedMove",
}


def test_all_is_exactly_the_public_api() -> None:
    assert set(agents.__all__) == EXPECTED
    assert len(agents.__all__) == len(set(agents.__all__))


def test_every_name_resolves() -> None:
    for name in agents.__all__:
        assert getattr(agents, name) is not None, name


def test_errors_hang_off_the_protocol_tree() -> None:
    import protocol

    assert issubclass(agents.UnexpectedMove, protocol.UnexpectedMessage)
    assert issubclass(agents.IllegalMove, protocol.LocalProtocolError)
    assert issubclass(agents.InvalidBid, protocol.MalformedFrame)
    assert issubclass(agents.MandateViolation, protocol.AccessDenied)
    assert issubclass(agents.DomainError, protocol.KluisError)


def test_the_old_walk_away_name_fails_with_the_new_names() -> None:
    """``Reject`` meant "walk away" here and "refuse" elsewhere: no alias, a clear error."""
    import pytest

    with pytest.raises(ImportError, match=r"End\(reason\) to walk away"):
        from agents import Reject
    with pytest.raises(ImportError, match="Refuse"):
        from agents.strategy import Reject  # noqa: F401
    with pytest.raises(AttributeError):
        agents.Nope


def test_the_lazy_table_is_the_public_api() -> None:
    """``agents`` re-exports lazily (PEP 562): its table, its ``TYPE_CHECKING`` imports
    and ``__all__`` agree, and each name is its module's own object."""
    check_lazy_exports(agents)
