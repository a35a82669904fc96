"""How the business node answers customers' intents: offer rules in TOML, or an agent module.

Offer rules (``kluis business start --offers offers.toml``)::

    [[offer]]
    category = "phone"                       # the intent topic to answer
    strategy = "agents.default_strategy:DefaultStrategy"   # optional, MODULE:CLASS
    reservation = 0.1                        # the least utility accepted, in [0, 1]
    retention_days = 0                       # kept after access ends

    [offer.issues.price]                     # a number, better the higher
    weight = 0.5
    low = 1000
    high = 3000
    [offer.issues.data]                      # a choice, scored by a table
    weight = 0.1
    values = { "1GB" = 5, "5GB" = 3, "20GB" = 1 }
    [offer.issues.shared]                    # the customer's fields, each worth its weight
    weight = 0.1
    fields = { "contact.email" = 1.0 }

An issue with ``increasing = false`` scores the low end best. Every intent of a
listed category is answered with that offer's preferences; one
:class:`~vault.requester.OfferAgent` serves all categories.

An agent module (``--agent mymod:plan`` or ``--agent path/to/file.py:plan``)
names an :class:`OfferPlan`, or a callable without arguments returning one:
full control, in Python, over which intents to bid on and how.

Any mistake in either is an :class:`OfferRulesError` with a one-line message,
raised before the node serves anything.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents import Preferences, Strategy
from agents.default_strategy import DefaultStrategy
from agents.intents import Intent
from agents.strategy_loader import load_strategy
from agents.utility import (
    DiscreteEvaluator,
    FieldsEvaluator,
    LinearAdditiveUtility,
    NumericEvaluator,
)
from vault.requester import OfferAgent, Requester, RequesterError

__all__ = ["OfferPlan", "OfferRulesError", "load_agent", "load_rules", "start_offers"]

#: The largest offer-rules file read (bytes), and the most offers in it.
MAX_RULES_SIZE = 64 * 1024
MAX_OFFERS = 32


class OfferRulesError(RequesterError):
    """The offer rules or the agent module cannot be used (one line says why)."""


@dataclass(frozen=True)
class OfferPlan:
    """What the offer agent needs: which topics, how to bid, what is worth what."""

    categories: Sequence[str]
    preferences: Callable[[Intent], Preferences | None]
    strategy: Callable[[], Strategy] = DefaultStrategy
    retention_days: int = 0
    names: Mapping[str, str] = field(default_factory=dict)


def _evaluator(name: str, spec: Mapping[str, Any]) -> tuple[float, Any]:
    weight = spec.get("weight")
    if not isinstance(weight, int | float) or weight <= 0:
        raise OfferRulesError(f"issue {name!r}: give a positive weight")
    if "values" in spec:
        table = spec["values"]
        if not isinstance(table, dict) or not table:
            raise OfferRulesError(f"issue {name!r}: values is a table of scores")
        return float(weight), DiscreteEvaluator({str(k): float(v) for k, v in table.items()})
    if "fields" in spec:
        table = spec["fields"]
        if not isinstance(table, dict) or not table:
            raise OfferRulesError(f"issue {name!r}: fields is a table of field weights")
        return float(weight), FieldsEvaluator(
            {str(k): float(v) for k, v in table.items()}, sharing_is_cost=False
        )
    low, high = spec.get("low"), spec.get("high")
    if not isinstance(low, int | float) or not isinstance(high, int | float) or low == high:
        raise OfferRulesError(
            f"issue {name!r}: give low and high (different numbers), values, or fields"
        )
    return float(weight), NumericEvaluator(low, high, increasing=bool(spec.get("increasing", True)))


def _preferences(offer: Mapping[str, Any]) -> Preferences:
    issues = offer.get("issues")
    if not isinstance(issues, dict) or not issues:
        raise OfferRulesError(f"offer {offer.get('category')!r}: give at least one issue")
    weights, evaluators = {}, {}
    for name, spec in issues.items():
        if not isinstance(spec, dict):
            raise OfferRulesError(f"issue {name!r}: expected a table")
        weights[name], evaluators[name] = _evaluator(name, spec)
    try:
        return Preferences(
            LinearAdditiveUtility(weights, evaluators),
            float(offer.get("reservation", 0.0)),
            name="business",
        )
    except Exception as exc:  # DomainError and friends: one line
        raise OfferRulesError(f"offer {offer.get('category')!r}: {exc}") from exc


def load_rules(path: Path) -> OfferPlan:
    """Read an offer-rules TOML file into a plan."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise OfferRulesError(f"cannot read the offer rules {path}: {exc.strerror}") from exc
    if len(raw) > MAX_RULES_SIZE:
        raise OfferRulesError(f"the offer rules are larger than {MAX_RULES_SIZE} bytes")
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise OfferRulesError(f"the offer rules are not valid TOML: {exc}") from exc
    offers = doc.get("offer")
    if not isinstance(offers, list) or not offers or len(offers) > MAX_OFFERS:
        raise OfferRulesError(f"give 1 to {MAX_OFFERS} [[offer]] tables")
    by_category: dict[str, Preferences] = {}
    strategy: Callable[[], Strategy] = DefaultStrategy
    retention = 0
    for offer in offers:
        category = offer.get("category")
        if not isinstance(category, str) or not category.isidentifier():
            raise OfferRulesError("every offer needs a category (a plain name, e.g. phone)")
        if category in by_category:
            raise OfferRulesError(f"two offers for {category!r}")
        by_category[category] = _preferences(offer)
        if "strategy" in offer:
            try:
                _, strategy = load_strategy(str(offer["strategy"]))
            except Exception as exc:
                raise OfferRulesError(str(exc)) from exc
        retention = max(retention, int(offer.get("retention_days", 0)))
    return OfferPlan(
        categories=list(by_category),
        preferences=lambda intent: by_category.get(intent.category),
        strategy=strategy,
        retention_days=retention,
    )


def load_agent(spec: str) -> OfferPlan:
    """``module:attr`` or ``file.py:attr`` → the :class:`OfferPlan` it names (or makes)."""
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr.isidentifier():
        raise OfferRulesError(f"agent {spec!r}: expected MODULE:NAME, e.g. mybids:plan")
    try:
        if module.endswith(".py"):
            found = importlib.util.spec_from_file_location(Path(module).stem, module)
            if found is None or found.loader is None or not Path(module).is_file():
                raise OfferRulesError(f"agent {spec!r}: no file {module}")
            loaded = importlib.util.module_from_spec(found)
            found.loader.exec_module(loaded)
        else:
            if str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))
            loaded = importlib.import_module(module)
        plan = getattr(loaded, attr)
        if not isinstance(plan, OfferPlan) and callable(plan):
            plan = plan()
    except OfferRulesError:
        raise
    except Exception as exc:  # the developer's module: say what failed, in one line
        raise OfferRulesError(f"agent {spec!r}: {type(exc).__name__}") from exc
    if not isinstance(plan, OfferPlan):
        raise OfferRulesError(f"agent {spec!r}: {attr} is not an OfferPlan")
    return plan


async def start_offers(
    biz: Requester, *, offers: Path | None, agent: str | None, bootstrap: Sequence[str]
) -> tuple[OfferAgent, list[str]]:
    """Load the plan, then attach the offer agent (before any dial) and subscribe."""
    if offers is not None and agent is not None:
        raise OfferRulesError("give offer rules or an agent module, not both")
    plan = load_rules(offers) if offers is not None else load_agent(str(agent))
    started = await OfferAgent.start(
        biz,
        list(plan.categories),
        strategy=plan.strategy,
        preferences=plan.preferences,
        bootstrap=bootstrap,
        retention_days=plan.retention_days,
    )
    return started, list(plan.categories)
