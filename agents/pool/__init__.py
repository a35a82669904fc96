"""The opponent pool: classic negotiators from outside the kluis family.

kluis's strategies (:mod:`agents.strategy`) are measured against these, not only
against each other: self-play flatters a strategy (its opponents share its
assumptions). Each agent here is reimplemented from its published description —
the source is in its docstring — on the same strategy API, and shares no code
with kluis's strategies, so a change to those never moves the yardstick.

======================  ==================================================
``hardheaded``          the tough one: HardHeaded, ANAC 2011 winner
``hybrid``              time- plus behaviour-based; backtracks (Keskin et al.)
``micro``               MiCRO (de Jonge, IJCAI 2022)
``random``              random bids, random acceptance, walks away (p = 0.03)
``naive-tft``           relative tit-for-tat (Faratin et al., 1998)
``nice-tft``            Nice Tit-for-Tat (Baarslag et al., ANAC 2011)
``aspiration``          NegMAS's aspiration negotiator (k = 4)
``tb-boulware``         time-based, e = 0.2 (GENIUS TimeDependentAgent)
``tb-linear``           time-based, e = 1
``tb-conceder``         time-based, e = 2
``tb-naive``            time-based, e = 0.5: the "naive time-based" reference
======================  ==================================================
"""

from __future__ import annotations

from collections.abc import Callable

from ..strategy import Strategy
from .aspiration import AspirationAgent
from .hardheaded import HardHeaded
from .hybrid import HybridAgent
from .micro import MiCRO
from .random_agent import RandomAgent
from .timebased import TimeBasedAgent
from .titfortat import NaiveTitForTat, NiceTitForTat

__all__ = [
    "POOL",
    "AspirationAgent",
    "HardHeaded",
    "HybridAgent",
    "MiCRO",
    "NaiveTitForTat",
    "NiceTitForTat",
    "RandomAgent",
    "TimeBasedAgent",
]

#: The pool, by the name the tournament tables use (``tb-`` = time-based; the
#: prefix keeps them apart from kluis's own ``boulware``/``linear``/``conceder``).
#: Each value makes a fresh agent.
POOL: dict[str, Callable[[], Strategy]] = {
    "hardheaded": HardHeaded,
    "hybrid": HybridAgent,
    "micro": MiCRO,
    "random": RandomAgent,
    "naive-tft": NaiveTitForTat,
    "nice-tft": NiceTitForTat,
    "aspiration": AspirationAgent,
    "tb-boulware": lambda: TimeBasedAgent(0.2, "tb-boulware"),
    "tb-linear": lambda: TimeBasedAgent(1.0, "tb-linear"),
    "tb-conceder": lambda: TimeBasedAgent(2.0, "tb-conceder"),
    "tb-naive": lambda: TimeBasedAgent(0.5, "tb-naive"),
}
