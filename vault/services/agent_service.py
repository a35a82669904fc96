"""The customer's preference agents on a vault: cast intents, confirm deals, keep agreements.

::

    svc = AgentService(vn.vault, vn.grants, vault_addrs=lambda: vn.addrs, bootstrap=[...])
    spec, mandate = svc.parse_intent(read_intent_file("phone.toml"))  # mandate vault-signed
    outcome = await svc.send_intent(spec, mandate)        # negotiates until the intent's deadline
    svc.deals()               # deals awaiting the owner's confirmation (above the threshold)
    svc.confirm("deal id")    # or svc.reject(...)
    svc.agreements()          # every agreement, both signatures checked

The service is the :class:`~agents.network.DealCloser` of every intent it sends:

* **confirm** — a deal priced above the mandate's ``confirm_above_cents`` waits as
  *awaiting confirmation* (see :meth:`deals`) until the owner confirms or rejects
  it, or ``confirm_timeout`` passes (= rejected);
* **close** — the business's access request for exactly the agreed terms is
  submitted to the :class:`~vault.services.grantbook.GrantBook` and approved at once
  (``decided_by="agent:<agreement id>"``): the grant is the ordinary,
  vault-signed grant, so the business reads with the ordinary Requester SDK. The
  agreement is countersigned with the vault identity, stored sealed (kind
  ``agreement``) and audited (``agent.agreement``) in the same transaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agents import (
    DiscreteEvaluator,
    Domain,
    FieldsEvaluator,
    Mandate,
    NumericEvaluator,
    Preferences,
    TermLimit,
)
from agents.agreements import Agreement
from agents.intents import DomainSpec, Intent, IssueSpec, domain_from_spec, intent_topic
from agents.network import Candidate, CustomerAgent, CustomerOutcome, IntentSpec
from agents.utility import LinearAdditiveUtility
from protocol import AccessRequest, Grant, KluisError, PurposeCode, canonical_loads, new_id
from vault._exceptions import VaultError, describe_invalid
from vault.services.grantbook import GrantBook, NotFound
from vault.store.jsonform import JsonRecord
from vault.store.vault import Vault

__all__ = [
    "AGREEMENT_KIND",
    "AgentService",
    "IntentFileError",
    "PendingDeal",
    "load_intent_file",
    "parse_intent_config",
    "read_intent_file",
    "stored_agreements",
]

log = logging.getLogger(__name__)

AGREEMENT_KIND = "agreement"
_ISSUE_KEYS = (
    "kind", "name", "low", "high", "step", "unit", "levels", "fields", "required", "max_shared",
)  # fmt: skip
DEFAULT_CONFIRM_TIMEOUT_S = 300.0
MAX_PENDING_DEALS = 32
MAX_WINDOW_MS = 3600 * 1000


class IntentFileError(VaultError):
    """The intent file is missing, unreadable or inconsistent."""


@dataclass
class PendingDeal(JsonRecord):
    deal_id: str
    intent_id: str
    category: str
    business: str
    bid: dict[str, Any]
    value_cents: int
    status: str = "awaiting confirmation"  # confirmed, rejected, expired
    created_at: int = 0


# -- intent files -------------------------------------------------------------------------


def _evaluator(issue: dict[str, Any]) -> Any:
    kind = issue["kind"]
    if kind == "numeric":
        prefer = issue.get("prefer", "low")
        return NumericEvaluator(int(issue["low"]), int(issue["high"]), increasing=prefer == "high")
    if kind in ("ordinal", "categorical"):
        levels = list(issue["levels"])
        scores = issue.get("scores") or {lv: i + 1 for i, lv in enumerate(levels)}
        return DiscreteEvaluator({k: float(v) for k, v in scores.items()})
    costs = issue.get("costs") or dict.fromkeys(issue["fields"], 1.0)
    return FieldsEvaluator({k: float(v) for k, v in costs.items()}, sharing_is_cost=True)


def load_intent_file(
    path: Path | str, owner: Any | None = None
) -> tuple[IntentSpec, Mandate | None]:
    """Read an intent file (``.toml`` or ``.json``) → (spec, mandate signed by ``owner``).

    See ``examples/intent_phone.toml`` and docs/agents.md ("Network") for the format.
    ``owner`` is the vault :class:`~protocol.Identity`; without it no mandate is built.
    """
    return parse_intent_config(read_intent_file(path), owner)


def read_intent_file(path: Path | str) -> dict[str, Any]:
    """An intent file's table, not yet checked: TOML if the name ends in ``.toml``, else JSON.

    The one reader of intent files: the CLI sends this table to a running node's
    control API, which checks it with :func:`parse_intent_config`.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        raw = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # TOML and JSON errors are both
        raise IntentFileError(
            f"cannot read the intent file {p.name}: {type(exc).__name__}"
        ) from exc
    if not isinstance(raw, dict):
        raise IntentFileError("an intent file holds a table (TOML) or an object (JSON)")
    return raw


def parse_intent_config(raw: Any, owner: Any | None = None) -> tuple[IntentSpec, Mandate | None]:
    if not isinstance(raw, dict):
        raise IntentFileError("an intent file holds a table/object")
    try:
        category = str(raw["category"])
        issues = list(raw["issues"])
        specs = []
        for issue in issues:
            kw = {k: issue[k] for k in _ISSUE_KEYS if k in issue}
            specs.append(IssueSpec.model_validate(kw))
        domain: Domain = domain_from_spec(
            DomainSpec(name=str(raw.get("domain", category)), issues=specs)
        )
        weights = {i["name"]: float(i.get("weight", 1.0)) for i in issues}
        evaluators = {i["name"]: _evaluator(i) for i in issues}
        prefs = Preferences(
            LinearAdditiveUtility(weights, evaluators),
            float(raw.get("reservation", 0.0)),
            name="customer",
        )
        fields_issue = next((i["name"] for i in issues if i["kind"] == "fields"), None)
        price_issue = raw.get("price_issue") or next(
            (i["name"] for i in issues if i["kind"] == "numeric" and i.get("unit") == "cents"), None
        )
        m: dict[str, Any] = dict(raw.get("mandate", {}))
        may_share: list[str] = list(m.get("may_share") or raw.get("may_share") or [])
        terms = {k: TermLimit.model_validate(v) for k, v in dict(m.get("terms", {})).items()}
        spec = IntentSpec(
            category=category,
            domain=domain,
            preferences=prefs,
            purpose=str(raw.get("purpose", "dpv:ServiceProvision")),
            duration_days=int(raw.get("duration_days", 30)),
            window_ms=int(float(raw.get("window_seconds", 5)) * 1000),
            rounds=int(raw.get("rounds", 20)),
            wanted=str(raw.get("wanted", "")),
            constraints=terms,
            fields_issue=fields_issue,
            price_issue=price_issue,
            may_share=may_share,
        )
        _check_spec(spec)
        mandate = None
        if owner is not None:
            mandate = Mandate(
                owner=owner.peer_id,
                mandate_id=str(m.get("id", new_id()[:16])),
                domain=domain.name,
                price_issue=price_issue,
                max_price_cents=m.get("max_price_cents"),
                min_price_cents=m.get("min_price_cents"),
                fields_issue=fields_issue,
                may_share=may_share,
                terms=terms,
                confirm_above_cents=m.get("confirm_above_cents"),
                max_rounds=m.get("max_rounds"),
            ).sign(owner)
    except IntentFileError:
        raise
    except ValidationError as exc:  # before ValueError, its base: pydantic's text echoes input
        raise IntentFileError(f"invalid intent file: {describe_invalid(exc)}") from None
    except (KeyError, TypeError, ValueError, OverflowError, KluisError) as exc:
        raise IntentFileError(f"invalid intent file: {type(exc).__name__}: {exc}") from exc
    return spec, mandate


def _check_spec(spec: IntentSpec) -> None:
    """Refuse now what would make the intent fail later, in the background."""
    intent_topic(spec.category)
    PurposeCode(spec.purpose)
    if not 0 < spec.window_ms <= MAX_WINDOW_MS:
        raise IntentFileError(f"window_seconds is above 0 and at most {MAX_WINDOW_MS // 1000}")
    if not 1 <= spec.rounds <= 1000:
        raise IntentFileError("rounds is 1 to 1000")
    if not 1 <= spec.duration_days <= 3650:
        raise IntentFileError("duration_days is 1 to 3650")
    if spec.wanted and len(spec.wanted) > 280:
        raise IntentFileError("wanted is at most 280 characters")


# -- the service -----------------------------------------------------------------------------


class _RunCloser:
    """The DealCloser of one intent: the service plus that intent's mandate."""

    def __init__(self, service: AgentService, mandate: Mandate) -> None:
        self.service = service
        self.mandate = mandate

    @property
    def vault_peer(self) -> str:
        return self.service.vault.peer_id

    @property
    def vault_addrs(self) -> list[str]:
        return self.service.vault_addrs()

    async def confirm(self, candidate: Candidate, intent: Intent) -> bool:
        bid = candidate.bid
        if bid is None or not self.mandate.permits(bid):
            return False
        if not self.mandate.needs_confirmation(bid):
            return True
        return await self.service._await_confirmation(candidate, intent, self.mandate)

    async def close(self, agreement: Agreement, request: AccessRequest) -> tuple[Agreement, Grant]:
        return self.service._close(agreement, request)


class AgentService:
    """See the module docstring."""

    def __init__(
        self,
        vault: Vault,
        grants: GrantBook,
        *,
        vault_addrs: Callable[[], list[str]] | Sequence[str] = (),
        bootstrap: Sequence[str] = (),
        confirm_timeout: float = DEFAULT_CONFIRM_TIMEOUT_S,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.vault = vault
        self.grants = grants
        addrs = vault_addrs
        self.vault_addrs: Callable[[], list[str]] = (
            addrs if callable(addrs) else (lambda: list(addrs))
        )
        self.bootstrap = list(bootstrap)
        self.confirm_timeout = confirm_timeout
        self.on_event = on_event
        self._deals: dict[str, PendingDeal] = {}
        self._waiters: dict[str, asyncio.Future[bool]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.outcomes: list[CustomerOutcome] = []

    # -- intents ------------------------------------------------------------------

    def parse_intent(self, raw: dict[str, Any]) -> tuple[IntentSpec, Mandate]:
        spec, mandate = parse_intent_config(raw, self.vault.identity)
        assert mandate is not None
        return spec, mandate

    async def send_intent(
        self,
        spec: IntentSpec,
        mandate: Mandate,
        *,
        bootstrap: Sequence[str] | None = None,
        expect_sessions: int | None = None,
        min_subscribers: int = 1,
        subscriber_timeout: float = 10.0,
    ) -> CustomerOutcome:
        """Cast ``spec`` and negotiate it to at most one agreement (see agents.network)."""
        agent = CustomerAgent(
            spec,
            mandate,
            _RunCloser(self, mandate),
            owner=self.vault.peer_id,
            bootstrap=self.bootstrap if bootstrap is None else list(bootstrap),
            expect_sessions=expect_sessions,
            min_subscribers=min_subscribers,
            subscriber_timeout=subscriber_timeout,
            on_event=self.on_event,
        )
        self.vault.audit.append(
            "agent.intent", {"category": spec.category, "mandate_id": mandate.mandate_id}
        )
        outcome = await agent.run()
        self.outcomes.append(outcome)
        self.vault.audit.append(
            "agent.outcome",
            {"intent_id": outcome.intent.intent_id, "status": outcome.status,
             "sessions": len(outcome.candidates)},
        )  # fmt: skip
        return outcome

    def start_intent(self, spec: IntentSpec, mandate: Mandate) -> asyncio.Task[CustomerOutcome]:
        """:meth:`send_intent` in the background (the control API returns at once)."""
        task = asyncio.get_running_loop().create_task(self.send_intent(spec, mandate))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- confirmation ---------------------------------------------------------------

    async def _await_confirmation(
        self, candidate: Candidate, intent: Intent, mandate: Mandate
    ) -> bool:
        assert candidate.bid is not None
        if sum(1 for d in self._deals.values() if d.status == "awaiting confirmation") >= (
            MAX_PENDING_DEALS
        ):
            return False
        price = mandate.price_of(candidate.bid) or 0
        deal = PendingDeal(
            deal_id=new_id()[:12],
            intent_id=intent.intent_id,
            category=intent.category,
            business=candidate.business,
            bid=intent.to_domain().bid_to_wire(candidate.bid),
            value_cents=price,
            created_at=self.vault.clock(),
        )
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._deals[deal.deal_id] = deal
        self._waiters[deal.deal_id] = fut
        self.vault.audit.append(
            "agent.awaiting_confirmation", {"deal_id": deal.deal_id, "value_cents": price}
        )
        if self.on_event is not None:
            self.on_event("awaiting_confirmation", deal.to_json())
        try:
            ok = await asyncio.wait_for(asyncio.shield(fut), self.confirm_timeout)
        except TimeoutError:
            deal.status = "expired"
            ok = False
        finally:
            self._waiters.pop(deal.deal_id, None)
        return ok

    def deals(self, status: str | None = "awaiting confirmation") -> list[PendingDeal]:
        return [d for d in self._deals.values() if status is None or d.status == status]

    def _decide(self, deal_id: str, ok: bool) -> PendingDeal:
        deal = self._deals.get(deal_id)
        fut = self._waiters.get(deal_id)
        if deal is None:
            raise NotFound(f"no deal {deal_id}")
        if fut is None or fut.done():
            raise VaultError(f"deal {deal_id} is {deal.status}, not awaiting confirmation")
        deal.status = "confirmed" if ok else "rejected"
        self.vault.audit.append(f"agent.{deal.status}", {"deal_id": deal_id})
        fut.set_result(ok)
        return deal

    def confirm(self, deal_id: str) -> PendingDeal:
        return self._decide(deal_id, True)

    def reject(self, deal_id: str) -> PendingDeal:
        return self._decide(deal_id, False)

    # -- closing ---------------------------------------------------------------------

    def _close(self, agreement: Agreement, request: AccessRequest) -> tuple[Agreement, Grant]:
        if agreement.vault != self.vault.peer_id or not agreement.matches_request(request):
            raise VaultError("the access request does not match the agreement")
        signed = agreement.sign_vault(self.vault.identity)
        self.grants.submit(request)
        grant = self.grants.approve(
            request.request_id, decided_by=f"agent:{agreement.agreement_id}"
        )
        with self.vault.transaction():
            self.vault.store.put(AGREEMENT_KIND, signed.agreement_id, signed.to_bytes())
            self.vault.audit.append(
                "agent.agreement",
                {"agreement_id": signed.agreement_id, "grant_id": grant.grant_id,
                 "business": signed.business, "fields": list(signed.fields),
                 "value_cents": signed.value_cents},
            )  # fmt: skip
        return signed, grant

    def agreements(self) -> list[Agreement]:
        """Stored agreements, oldest first (each one's signatures are checked)."""
        return stored_agreements(self.vault)

    async def aclose(self) -> None:
        for fut in self._waiters.values():
            if not fut.done():
                fut.set_result(False)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def stored_agreements(vault: Vault) -> list[Agreement]:
    out = []
    for name, raw in vault.store.items(AGREEMENT_KIND, errors=[]):
        try:
            agreement = Agreement.from_json(canonical_loads(raw))
            agreement.verify()
        except KluisError:
            log.warning("agreement %s is unreadable or its signatures do not verify", name)
            continue
        out.append(agreement)
    return sorted(out, key=lambda a: (a.created_at, a.agreement_id))
