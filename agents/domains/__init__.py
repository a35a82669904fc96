"""The negotiation domains kluis ships: deals a kluis user actually makes.

Each ``*.toml`` file next to this module is one :class:`~agents.anac.Scenario` —
a domain and two opposing profiles (the customer's and the business's). They are
the project's own work (Apache-2.0, like the rest of kluis) and travel in the
wheel as package data, so ``kluis agents tournament`` runs anywhere. The
ANAC/GENIUS scenarios are AGPL-licensed and never ship; a user points at them with
``kluis agents tournament --scenarios DIR`` (read by :mod:`agents.anac`).

The file format, one table per fact::

    name = "phone-contract"
    title = "A phone contract"          # one line for people

    [[issues]]                          # kinds: numeric, ordinal, categorical, boolean
    name = "price"
    kind = "numeric"
    low = "9.99"                        # a string is a Decimal (money), an integer an int
    high = "29.99"
    step = "1.00"                       # or points = [1, 12, 24] for an irregular set
    unit = "EUR"

    [[profiles]]                        # exactly two, opposing
    name = "customer"
    reservation = 0.3                   # utility of no deal
    weights = { price = 5, ... }        # every issue, relative (normalised on load)
    prefer = { price = "low" }          # numeric issues scored linearly, "low" or "high"
    scores.data = { "1GB" = 1, ... }    # or a score per value (its text: "24", "true")

Numbers are never TOML floats in an issue (a float has no exact decimal value to
sign); weights, scores and reservations are utilities and may be floats.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

from .._errors import DomainError
from ..anac import Scenario
from ..domain import (
    BooleanIssue,
    CategoricalIssue,
    Domain,
    Issue,
    IssueValue,
    NumericIssue,
    OrdinalIssue,
)
from ..utility import (
    DiscreteEvaluator,
    Evaluator,
    LinearAdditiveUtility,
    NumericEvaluator,
    Preferences,
)

__all__ = ["DomainFileError", "load_domain_file", "shipped_scenarios"]

#: A domain file larger than this is refused before parsing.
MAX_FILE_BYTES = 256 * 1024


class DomainFileError(DomainError):
    """A domain file (TOML) that cannot be read or does not describe a scenario."""


def _number(raw: object, where: str) -> int | Decimal:
    if isinstance(raw, bool) or isinstance(raw, float):
        raise DomainFileError(f'{where}: write an integer, or a decimal as a string ("9.99")')
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        try:
            value = Decimal(raw)
        except InvalidOperation as exc:
            raise DomainFileError(f"{where}: {raw!r} is not a number") from exc
        if value.is_finite():
            return value
    raise DomainFileError(f"{where}: not a number")


def _labels(raw: object, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise DomainFileError(f"{where}: a list of strings")
    return tuple(raw)


def _issue(raw: Mapping[str, Any]) -> Issue:
    name, kind = raw.get("name"), raw.get("kind")
    where = f"issue {name!r}"
    if not isinstance(name, str):
        raise DomainFileError("an issue without a name")
    if kind == "numeric":
        unit = str(raw.get("unit", ""))
        if "points" in raw:
            points = raw["points"]
            if not isinstance(points, list):
                raise DomainFileError(f"{where}: points is a list")
            return NumericIssue.of_points(name, [_number(p, where) for p in points], unit)
        low, high = _number(raw.get("low"), where), _number(raw.get("high"), where)
        return NumericIssue(name, low, high, step=_number(raw.get("step", 1), where), unit=unit)
    if kind == "ordinal":
        return OrdinalIssue(name, _labels(raw.get("levels"), where))
    if kind == "categorical":
        return CategoricalIssue(name, _labels(raw.get("options"), where))
    if kind == "boolean":
        return BooleanIssue(name)
    raise DomainFileError(f"{where}: kind is numeric, ordinal, categorical or boolean")


def _text(value: IssueValue) -> str:
    """A value as a profile's score table names it (``24``, ``9.99``, ``true``, ``5GB``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _evaluator(issue: Issue, profile: str, prefer: object, scores: object) -> Evaluator:
    where = f"profile {profile!r}, issue {issue.name!r}"
    if (prefer is None) == (scores is None):
        raise DomainFileError(f"{where}: give either prefer or scores")
    if prefer is not None:
        if not isinstance(issue, NumericIssue) or prefer not in ("low", "high"):
            raise DomainFileError(f'{where}: prefer is "low" or "high", numeric issues only')
        return NumericEvaluator(issue.low, issue.high, increasing=prefer == "high")
    if not isinstance(scores, dict):
        raise DomainFileError(f"{where}: scores is a table value -> score")
    by_text = {_text(v): v for v in issue.values()}
    if set(scores) != set(by_text):
        raise DomainFileError(f"{where}: scores must name every value exactly once")
    table: dict[IssueValue, float] = {}
    for text, score in scores.items():
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise DomainFileError(f"{where}: a score is a number")
        table[by_text[text]] = float(score)
    return DiscreteEvaluator(table)


def _profile(domain: Domain, raw: Mapping[str, Any]) -> Preferences:
    name = str(raw.get("name", ""))
    weights, prefer, scores = (raw.get(k, {}) for k in ("weights", "prefer", "scores"))
    if not all(isinstance(t, dict) for t in (weights, prefer, scores)):
        raise DomainFileError(f"profile {name!r}: weights, prefer and scores are tables")
    if set(weights) != set(domain.issue_names):
        raise DomainFileError(f"profile {name!r}: weights must cover every issue")
    if any(isinstance(w, bool) or not isinstance(w, int | float) for w in weights.values()):
        raise DomainFileError(f"profile {name!r}: a weight is a number")
    evaluators = {
        i.name: _evaluator(i, name, prefer.get(i.name), scores.get(i.name)) for i in domain.issues
    }
    reservation = raw.get("reservation", 0.0)
    if isinstance(reservation, bool) or not isinstance(reservation, int | float):
        raise DomainFileError(f"profile {name!r}: reservation is a number in [0, 1]")
    utility = LinearAdditiveUtility({k: float(v) for k, v in weights.items()}, evaluators)
    return Preferences(utility, float(reservation), name=name)


def parse_domain_file(text: str, source: Path) -> Scenario:
    """A domain file's text → its :class:`~agents.anac.Scenario` (``source`` names it)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DomainFileError(f"{source.name}: not valid TOML ({exc})") from exc
    issues, profiles = raw.get("issues"), raw.get("profiles")
    if not isinstance(issues, list) or not isinstance(profiles, list) or len(profiles) != 2:
        raise DomainFileError(f"{source.name}: needs [[issues]] and exactly two [[profiles]]")
    name = str(raw.get("name") or source.stem)
    try:
        domain = Domain(name, tuple(_issue(i) for i in issues))
        pair = (_profile(domain, profiles[0]), _profile(domain, profiles[1]))
    except DomainError as exc:  # DomainFileError too: name the file once
        raise DomainFileError(f"{source.name}: {exc.message}") from exc
    return Scenario(name, domain, pair, (source, source, source))


def load_domain_file(path: str | Path) -> Scenario:
    """Read one domain file (the format above) into a scenario."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise DomainFileError(f"cannot read {p.name}: {type(exc).__name__}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise DomainFileError(f"{p.name}: file too large")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DomainFileError(f"{p.name}: not UTF-8") from exc
    return parse_domain_file(text, p)


def shipped_scenarios() -> list[Scenario]:
    """Every domain kluis ships, sorted by file name (read from the installed package)."""
    folder = resources.files(__name__)
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".toml")), key=lambda f: f.name)
    return [parse_domain_file(f.read_text(encoding="utf-8"), Path(f.name)) for f in files]
