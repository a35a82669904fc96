"""Owner rules: standing decisions, so the owner is not asked the same thing twice.

Everything runs in a temporary folder, on 127.0.0.1:

1. Anna's vault starts with two rules:
   - "approve ``contact.email`` for ``dpv:ServiceProvision`` from businesses I
     have granted before" (at most 90 days);
   - "deny ``dpv:Marketing``, whoever asks".
2. A web shop Anna never dealt with asks for her e-mail, for service: no rule
   matches (it is not *known*), so the request waits for Anna; she approves.
3. The same shop asks again later, for the same field and purpose: the first
   rule approves it on the spot, and caps it at 90 days.
4. It asks for her e-mail *and* phone: an approve rule never approves part of a
   request, so this one waits for Anna.
5. An advertiser asks for her e-mail, for marketing: the deny rule refuses it
   at once.
6. The audit log names the rule behind every automatic decision.

The same rules can be managed on a running node with ``kluis rules add|list|remove``.
Run: ``python examples/owner_policy.py``. Exits 0 only if every step behaved.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from protocol import AccessDenied, ErrorCode, PurposeCode
from vault.node.boss import VaultNode
from vault.requester import DecisionPending, Requester
from vault.services.rules import RequesterCondition, Rule, RuleAction
from vault.store.vault import Vault

PASSPHRASE = "a long owner passphrase"
LOOPBACK = ["/ip4/127.0.0.1/tcp/0"]
DAY_MS = 24 * 3600 * 1000

failures: list[str] = []


def check(ok: bool, what: str) -> None:
    print(f"   [{'ok' if ok else 'FAILED'}] {what}", flush=True)
    if not ok:
        failures.append(what)


async def main(tmp: Path) -> None:
    with Vault.create(tmp / "anna", PASSPHRASE) as v:
        v.profile.set("contact.email", "anna@example.org")
        v.profile.set("contact.phone", "+31612345678")

    async with (
        VaultNode.start(tmp / "anna", PASSPHRASE, listen=LOOPBACK, control_port=None) as vn,
        Requester.ephemeral(tmp / "shop", listen=LOOPBACK) as shop,
        Requester.ephemeral(tmp / "ads", listen=LOOPBACK) as ads,
    ):
        print("== Anna's rules")
        known = vn.rules.add(
            Rule(
                action=RuleAction.APPROVE,
                fields=("contact.email",),
                purposes=(PurposeCode.SERVICE_PROVISION,),
                requester=RequesterCondition.KNOWN,
                max_days=90,
                note="e-mail for service, for businesses I already trust",
            )
        )
        no_marketing = vn.rules.add(
            Rule(action=RuleAction.DENY, purposes=(PurposeCode.MARKETING,), note="no marketing")
        )
        for rule in vn.rules.rules():
            print(f"   {rule.rule_id[:8]}  {rule.action.value:<7} {rule.note}")

        vault_addr = vn.addrs[0]

        print("\n== a new web shop asks for the e-mail address, for service")
        first = await shop.request(vault_addr, ["contact.email"], "ServiceProvision", days=365)
        try:
            await first.decision(timeout=0.5)
            check(False, "a stranger's request waits for Anna")
        except DecisionPending:
            waiting = [r.request_id for r in vn.grants.requests("pending")]
            check(
                first.request_id in waiting,
                "no rule matches a stranger: the request waits for Anna",
            )
        vn.approve(first.request_id)
        grant = await first.decision(timeout=10)
        check(grant.grant_id != "", "Anna approves it herself")

        print("\n== the same shop asks again")
        again = await shop.request(vault_addr, ["contact.email"], "ServiceProvision", days=365)
        auto = await again.decision(timeout=10)
        state = next(r for r in vn.grants.requests() if r.request_id == again.request_id)
        check(state.decided_by == f"rule:{known.rule_id}", f"approved by rule ({state.decided_by})")
        days = round((auto.expires_at - shop.now()) / DAY_MS)
        check(days <= 90, f"capped by the rule at 90 days (asked 365, got {days})")

        print("\n== the shop asks for e-mail and phone")
        wider = await shop.request(
            vault_addr, ["contact.email", "contact.phone"], "ServiceProvision", days=30
        )
        try:
            await wider.decision(timeout=0.5)
            check(False, "a wider request waits for Anna")
        except DecisionPending:
            waiting = [r.request_id for r in vn.grants.requests("pending")]
            check(
                wider.request_id in waiting,
                "a rule never approves part of a request: this one waits for Anna",
            )

        print("\n== an advertiser asks for the e-mail address, for marketing")
        pitch = await ads.request(vault_addr, ["contact.email"], "Marketing", days=30)
        try:
            await pitch.decision(timeout=10)
            check(False, "marketing is refused")
        except AccessDenied as exc:
            state = next(r for r in vn.grants.requests() if r.request_id == pitch.request_id)
            check(
                exc.code is ErrorCode.DENIED and state.decided_by == f"rule:{no_marketing.rule_id}",
                f"refused at once by the deny rule ({state.decided_by})",
            )

        print("\n== the audit log names the rule behind each automatic decision")
        for entry in vn.vault.audit.entries():
            decided = entry.details.get("decided_by")
            if decided:
                print(f"   #{entry.seq:<3} {entry.kind:<16} decided_by={decided}")
        decisions = [str(e.details.get("decided_by", "")) for e in vn.vault.audit.entries()]
        by_rule = [d for d in decisions if d.startswith("rule:")]
        check(len(by_rule) == 2, "two decisions were taken by rules, and audited as such")


def run() -> int:
    with tempfile.TemporaryDirectory(prefix="kluis-example-") as tmp:
        asyncio.run(main(Path(tmp)))
    if failures:
        print(f"\n{len(failures)} step(s) misbehaved: {'; '.join(failures)}")
        return 1
    print("\nall steps behaved")
    return 0


if __name__ == "__main__":
    sys.exit(run())
