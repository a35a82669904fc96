"""Load ANAC / GENIUS negotiation scenarios (XML) into kluis domains and preferences.

A GENIUS scenario is a **domain file** (root ``<negotiation_template>``, or a
``<utility_space>`` whose items carry no evaluations) and two or more
**profiles** (root ``<utility_space>`` with ``evaluation`` attributes,
``<weight>`` elements, optionally ``<reservation value>`` and
``<discount_factor value>``). The files vary in small ways, all handled here:
weights before or after the issues, missing ``vtype``/``etype``, self-closing
or open ``discount_factor``, ``similarity_function`` blocks with their own
nested items (ignored), profiles without a reservation value (0).

Issue kinds:

* ``discrete`` → :class:`~agents.domain.CategoricalIssue`; evaluations are
  normalised by the issue's largest one (as GENIUS's ``EvaluatorDiscrete``).
* ``integer`` (``lowerbound``/``upperbound`` on the issue) →
  :class:`~agents.domain.NumericIssue`, scored linearly; the profile gives the
  scores at the ends (``utilitylowestvalue``/``utilityhighestvalue``) or a
  linear ``<evaluator slope offset>``.
* ``real`` (``<range lowerbound upperbound>``) stays numeric: a
  :class:`~agents.domain.NumericIssue` of ``Decimal`` values on a grid of
  ``REAL_STEPS + 1`` points from ``lower`` to ``upper`` (exact decimal steps,
  read from the file's own digits, never through a float), scored with the
  profile's linear evaluator at that value. On the wire they are scaled
  integers, like every decimal.

Parsing is safe: files are size-limited, and :mod:`defusedxml` parses them with
DTDs, entity declarations and external references forbidden, whatever the
file's encoding. (A byte screen for ``<!DOCTYPE`` is not enough: a UTF-16 file
spells it with NUL bytes in between and walks past it.)
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import defusedxml
import defusedxml.ElementTree as SafeET

from ._errors import DomainError
from .domain import CategoricalIssue, Domain, Issue, IssueValue, NumericIssue
from .utility import (
    DiscreteEvaluator,
    Evaluator,
    LinearAdditiveUtility,
    NumericEvaluator,
    Preferences,
)

__all__ = [
    "AnacError",
    "Scenario",
    "load_domain",
    "load_preferences",
    "load_scenario",
    "load_scenarios",
]

MAX_XML_BYTES = 4 * 1024 * 1024
REAL_STEPS = 20


class AnacError(DomainError):
    """A scenario file that cannot be read or does not fit its domain."""


@dataclass(frozen=True, eq=False)
class Scenario:
    """A domain with two profiles, as used in ANAC: ``profiles[0]`` vs ``profiles[1]``."""

    name: str
    domain: Domain
    profiles: tuple[Preferences, Preferences]
    files: tuple[Path, Path, Path]


def _safe_parse(path: Path) -> ET.Element:
    data = path.read_bytes()
    if len(data) > MAX_XML_BYTES:
        raise AnacError(f"{path.name}: file too large")
    try:
        root: ET.Element = SafeET.fromstring(
            data.strip(), forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except defusedxml.DefusedXmlException as exc:
        why = "DTDs, entities and external references are not allowed"
        raise AnacError(f"{path.name}: {why}") from exc
    except ET.ParseError as exc:
        raise AnacError(f"{path.name}: not well-formed XML ({exc})") from exc
    return root


def _objective(root: ET.Element) -> ET.Element:
    found = root.find(".//objective")
    if found is None:
        raise AnacError("no <objective> element")
    return found


def _issue_kind(el: ET.Element) -> str:
    for attr in ("type", "etype", "vtype"):
        value = el.get(attr)
        if value and value != "objective":
            return value.lower()
    return "discrete"


def _num(value: str | None, what: str) -> float:
    if value is None:
        raise AnacError(f"missing {what}")
    try:
        return float(value)
    except ValueError as exc:
        raise AnacError(f"{what} is not a number") from exc


def _direct_items(issue: ET.Element) -> list[ET.Element]:
    return [child for child in issue if child.tag == "item"]


def _decimal(value: str | None, what: str) -> Decimal:
    if value is None:
        raise AnacError(f"missing {what}")
    try:
        number = Decimal(value.strip())
    except InvalidOperation as exc:
        raise AnacError(f"{what} is not a number") from exc
    if not number.is_finite():
        raise AnacError(f"{what} is not a number")
    return number


def _real_issue(name: str, lower: Decimal, upper: Decimal) -> NumericIssue:
    if upper < lower:
        raise AnacError(f"issue {name!r}: upperbound below lowerbound")
    step = (upper - lower) / REAL_STEPS  # exact: a finite decimal divided by 20
    if step == 0:
        return NumericIssue.of_points(name, [lower])
    return NumericIssue(name, lower, upper, step=step)


def _read_domain(root: ET.Element, name: str) -> Domain:
    issues: list[Issue] = []
    for el in _objective(root).iter("issue"):
        iname = el.get("name")
        if not iname:
            raise AnacError("an issue without a name")
        kind = _issue_kind(el)
        if kind == "discrete":
            labels = [it.get("value") or "" for it in _direct_items(el)]
            issues.append(CategoricalIssue(iname, tuple(labels)))
        elif kind == "integer":
            low = int(_num(el.get("lowerbound"), "lowerbound"))
            high = int(_num(el.get("upperbound"), "upperbound"))
            issues.append(NumericIssue(iname, low, high))
        elif kind == "real":
            rng = el.find("range")
            src = rng if rng is not None else el
            lower = _decimal(src.get("lowerbound"), "lowerbound")
            upper = _decimal(src.get("upperbound"), "upperbound")
            try:
                issues.append(_real_issue(iname, lower, upper))
            except DomainError as exc:
                raise AnacError(f"issue {iname!r}: {exc.message}") from exc
        else:
            raise AnacError(f"issue {iname!r}: unsupported type {kind!r}")
    return Domain(name, tuple(issues))


def load_domain(path: str | Path) -> Domain:
    """Read a GENIUS domain file."""
    p = Path(path)
    return _read_domain(_safe_parse(p), p.stem)


def _weights(objective: ET.Element, issues_by_index: dict[str, str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for w in objective.findall("weight"):
        idx = w.get("index")
        if idx in issues_by_index:
            out[issues_by_index[idx]] = _num(w.get("value"), "weight")
    return out


def _linear_evaluator(issue_el: ET.Element, low: float, high: float) -> NumericEvaluator | None:
    lo_u, hi_u = issue_el.get("utilitylowestvalue"), issue_el.get("utilityhighestvalue")
    if lo_u is not None and hi_u is not None:
        return NumericEvaluator(0, 1, True, _num(lo_u, "utility"), _num(hi_u, "utility"))
    ev = issue_el.find("evaluator")
    if ev is None:
        return None
    slope = ev.get("slope") or ev.get("parameter1")
    offset = ev.get("offset") or ev.get("parameter0")
    s, o = _num(slope, "slope"), _num(offset, "offset")
    return NumericEvaluator(0, 1, True, o + s * low, o + s * high)


class _Scaled:
    """Adapts a [0, 1]-parameterised linear evaluator to an issue's integer values."""

    def __init__(self, inner: NumericEvaluator, position: Evaluator) -> None:
        self.inner, self.position = inner, position

    def __call__(self, value: IssueValue) -> float:
        frac = self.position(value)
        lo = self.inner.at_low if self.inner.at_low is not None else 0.0
        hi = self.inner.at_high if self.inner.at_high is not None else 1.0
        return min(1.0, max(0.0, lo + (hi - lo) * frac))


def _read_profile(root: ET.Element, domain: Domain, name: str) -> Preferences:
    objective = _objective(root)
    issue_els = {el.get("name"): el for el in objective.iter("issue")}
    index_of = {el.get("index") or "": n or "" for n, el in issue_els.items()}
    evaluators: dict[str, Evaluator] = {}
    for issue in domain.issues:
        el = issue_els.get(issue.name)
        if el is None:
            raise AnacError(f"profile {name!r} lacks issue {issue.name!r}")
        if isinstance(issue, CategoricalIssue):
            scores: dict[IssueValue, float] = {}
            for it in _direct_items(el):
                label = it.get("value") or ""
                if label not in issue.options:
                    raise AnacError(f"profile {name!r}: unknown value in issue {issue.name!r}")
                scores[label] = _num(it.get("evaluation"), "evaluation")
            evaluators[issue.name] = DiscreteEvaluator(scores)
        else:
            assert isinstance(issue, NumericIssue)
            lo, hi = float(issue.low), float(issue.high)
            linear = _linear_evaluator(el, lo, hi)
            position = NumericEvaluator(issue.low, issue.high, True)
            if linear is None:
                evaluators[issue.name] = position
            else:
                evaluators[issue.name] = _Scaled(linear, position)
    weights = _weights(objective, index_of)
    if not weights and len(domain.issues) == 1:
        weights = {domain.issues[0].name: 1.0}
    if set(weights) != set(domain.issue_names):
        raise AnacError(f"profile {name!r}: weights do not cover every issue")
    reservation = 0.0
    res = root.find(".//reservation")
    if res is not None:
        reservation = _num(res.get("value"), "reservation")
    discount = 1.0
    disc = root.find(".//discount_factor")
    if disc is not None:
        discount = _num(disc.get("value"), "discount_factor")
        if not 0.0 < discount <= 1.0:
            discount = 1.0  # GENIUS treats 0 and out-of-range values as "no discount"
    return Preferences(LinearAdditiveUtility(weights, evaluators), reservation, discount, name)


def load_preferences(path: str | Path, domain_path: str | Path) -> Preferences:
    """Read a GENIUS profile against its domain file."""
    dp = Path(domain_path)
    domain = _read_domain(_safe_parse(dp), dp.stem)
    return _read_profile(_safe_parse(Path(path)), domain, Path(path).stem)


def _is_profile(root: ET.Element) -> bool:
    return (
        root.tag == "utility_space"
        and any(it.get("evaluation") is not None for it in root.iter("item"))
    ) or (root.tag == "utility_space" and root.find(".//weight") is not None)


def load_scenario(folder: str | Path) -> Scenario:
    """Load a folder holding one domain file and (at least) two profiles.

    Files are told apart by content, not name. With more than two profiles, the
    first two in name order are used.
    """
    folder = Path(folder)
    domains: list[tuple[Path, ET.Element]] = []
    profiles: list[tuple[Path, ET.Element]] = []
    for path in sorted(folder.glob("*.xml")):
        root = _safe_parse(path)
        (profiles if _is_profile(root) else domains).append((path, root))
    if len(domains) != 1 or len(profiles) < 2:
        raise AnacError(f"{folder.name}: needs one domain file and two profiles")
    dpath, droot = domains[0]
    domain = _read_domain(droot, folder.name)
    prefs = tuple(_read_profile(root, domain, p.stem) for p, root in profiles[:2])
    assert len(prefs) == 2
    return Scenario(
        folder.name, domain, (prefs[0], prefs[1]), (dpath, profiles[0][0], profiles[1][0])
    )


def _candidate_folders(root: Path) -> Iterable[Path]:
    seen = {p.parent for p in root.rglob("*.xml")}
    return sorted(seen)


def load_scenarios(root: str | Path, *, strict: bool = False) -> list[Scenario]:
    """Every scenario under ``root`` (recursively), sorted by path.

    Folders that are not a domain + two profiles are skipped (or, with
    ``strict``, raise :class:`AnacError`).
    """
    out: list[Scenario] = []
    for folder in _candidate_folders(Path(root)):
        try:
            out.append(load_scenario(folder))
        except AnacError:
            if strict:
                raise
    return out
