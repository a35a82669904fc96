"""Owner rules: standing decisions that approve or deny access requests automatically.

Examples: "approve ``contact.email`` for ``dpv:ServiceProvision`` from peers I
have granted before", "deny ``dpv:Marketing`` from anyone".

A :class:`Rule` has

* ``fields``: the field patterns it covers (empty on a *deny* rule = every field);
* ``purposes``: the DPV purpose codes it applies to (empty = any purpose);
* ``requester``: ``any``, ``known`` (a peer this vault has granted before) or
  ``peers`` (only the peer ids listed in ``peers``);
* ``action``: ``approve`` or ``deny``; ``actions``: what an approve rule allows
  (``read``, ``subscribe``; never ``contact`` unless listed);
* ``max_days``: an approve rule shortens the grant to at most this many days.

Why these semantics (safety first, the owner stays in charge):

* Rules are evaluated in order; the **first matching rule wins**.
* An **approve** rule matches only a request that lies *wholly* inside its
  fields and actions. A request that asks for one field more is not matched by
  it (a later rule may still match); with no match the request stays pending
  for the owner. A rule never approves a part of a request on its own.
* A **deny** rule matches a request that touches any of its fields (or any
  request, when it lists none): denying too much is safe, approving is not.

Rules are persisted sealed (store kind ``rule``, one record per rule id).
Changes are audited (``rule.add``, ``rule.remove``); decisions taken by a rule
are audited by the grant book with ``decided_by = "rule:<id>"``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from protocol import AccessRequest, Action, ErrorCode, canonical_dumps, canonical_loads, new_id
from protocol.clock import Clock
from protocol.purposes import PurposeCode
from protocol.scopes import FieldPattern, pattern_covers
from protocol.wire import Id, PeerId
from vault._exceptions import CorruptRecord, UnknownField, VaultError
from vault.store.schema import check_pattern
from vault.store.vault import Vault

__all__ = ["RequesterCondition", "Rule", "RuleAction", "RuleBook", "RuleError", "RuleMatch"]

RULE_KIND = "rule"
MAX_RULES = 200


class RuleError(VaultError):
    """A rule that cannot be added, or a rule id that does not exist."""


class RuleAction(StrEnum):
    APPROVE = "approve"
    DENY = "deny"


class RequesterCondition(StrEnum):
    ANY = "any"
    KNOWN = "known"  # a peer this vault has granted before
    PEERS = "peers"  # only the peer ids in ``peers``


class Rule(BaseModel):
    """One owner rule. Build with ``Rule(...)``; ``rule_id`` is minted when omitted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule_id: Id = Field(default_factory=new_id)
    action: RuleAction
    fields: Annotated[tuple[FieldPattern, ...], Field(max_length=64)] = ()
    purposes: Annotated[tuple[PurposeCode, ...], Field(max_length=32)] = ()
    requester: RequesterCondition = RequesterCondition.ANY
    peers: Annotated[tuple[PeerId, ...], Field(max_length=256)] = ()
    actions: tuple[Action, ...] = (Action.READ, Action.SUBSCRIBE)
    max_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    note: Annotated[str, Field(max_length=200)] = ""

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if self.action is RuleAction.APPROVE and not self.fields:
            raise ValueError("an approve rule must name the fields it approves")
        if (self.requester is RequesterCondition.PEERS) != bool(self.peers):
            raise ValueError("peer ids go with, and only with, requester 'peers'")
        if not self.actions:
            raise ValueError("a rule needs at least one action")
        return self

    # -- matching --------------------------------------------------------------

    def _requester_ok(self, requester: str, known: bool) -> bool:
        if self.requester is RequesterCondition.ANY:
            return True
        if self.requester is RequesterCondition.KNOWN:
            return known
        return requester in self.peers

    def matches(self, request: AccessRequest, *, known: bool) -> bool:
        """True if this rule decides ``request`` (``known``: granted this peer before)."""
        if self.purposes and request.purpose.code not in self.purposes:
            return False
        if not self._requester_ok(request.requester, known):
            return False
        asked = request.scope.fields
        if self.action is RuleAction.DENY:
            if not self.fields:
                return True
            return any(
                pattern_covers(mine, f) or pattern_covers(f, mine)
                for mine in self.fields
                for f in asked
            )
        # approve: wholly inside, fields and actions
        if not set(request.scope.actions) <= set(self.actions):
            return False
        return all(any(pattern_covers(mine, f) for mine in self.fields) for f in asked)

    def days_for(self, request: AccessRequest) -> int:
        """The grant duration this rule gives ``request`` (never more than asked)."""
        if self.max_days is None:
            return request.duration_days
        return min(self.max_days, request.duration_days)


class RuleMatch(BaseModel):
    """The decision a rule takes for a request."""

    model_config = ConfigDict(frozen=True)

    rule: Rule
    days: int

    @property
    def decided_by(self) -> str:
        return f"rule:{self.rule.rule_id}"


class RuleBook:
    """The owner's ordered rules, persisted sealed in the vault store."""

    def __init__(self, vault: Vault, *, clock: Clock | None = None) -> None:
        self._vault = vault
        self._clock = clock or vault.clock
        self._rules: list[tuple[int, Rule]] = []  # (position, rule), kept sorted
        self.corrupt: list[CorruptRecord] = []
        for name, raw in vault.store.items(RULE_KIND, errors=self.corrupt):
            try:
                data = canonical_loads(raw)
                self._rules.append((int(data["position"]), Rule.model_validate(data["rule"])))
            except (VaultError, ValidationError, KeyError, TypeError, ValueError):
                self.corrupt.append(CorruptRecord(name, kind=RULE_KIND))
        self._rules.sort(key=lambda item: item[0])

    def rules(self) -> list[Rule]:
        """Rules in evaluation order."""
        return [rule for _, rule in self._rules]

    def get(self, rule_id: str) -> Rule:
        for _, rule in self._rules:
            if rule.rule_id == rule_id:
                return rule
        raise RuleError(f"no rule {rule_id}", code=ErrorCode.NOT_FOUND)

    def add(self, rule: Rule) -> Rule:
        """Append ``rule`` (evaluated after the existing ones); audited."""
        if any(r.rule_id == rule.rule_id for _, r in self._rules):
            raise RuleError(f"a rule {rule.rule_id} exists already")
        if len(self._rules) >= MAX_RULES:
            raise RuleError(f"at most {MAX_RULES} rules")
        for pattern in rule.fields:
            try:
                check_pattern(pattern)
            except UnknownField as exc:
                raise RuleError(f"the rule's {exc.message}") from exc
        position = (self._rules[-1][0] + 1) if self._rules else 1
        data = {"position": position, "rule": rule.model_dump(mode="json")}
        with self._vault.transaction():
            self._vault.store.put(RULE_KIND, rule.rule_id, canonical_dumps(data))
            self._vault.audit.append(
                "rule.add",
                {
                    "rule_id": rule.rule_id,
                    "action": rule.action.value,
                    "fields": list(rule.fields),
                    "purposes": [p.value for p in rule.purposes],
                    "requester": rule.requester.value,
                },
            )
        self._rules.append((position, rule))
        return rule

    def remove(self, rule_id: str) -> Rule:
        """Remove a rule; audited."""
        rule = self.get(rule_id)
        with self._vault.transaction():
            self._vault.store.delete(RULE_KIND, rule_id)
            self._vault.audit.append("rule.remove", {"rule_id": rule_id})
        self._rules = [(p, r) for p, r in self._rules if r.rule_id != rule_id]
        return rule

    def match(self, request: AccessRequest, *, known: bool) -> RuleMatch | None:
        """The first rule that decides ``request``, or None (the owner decides)."""
        for _, rule in self._rules:
            if rule.matches(request, known=known):
                return RuleMatch(rule=rule, days=rule.days_for(request))
        return None

    def __len__(self) -> int:
        return len(self._rules)
