"""What the TypeAdapter-made JSON form of records costs, against hand-written code.

Run: ``python benchmarks/bench_records.py [--n 20000]``. Prints microseconds per
call and the ratio to a baseline measured in the same run:

(a) hand-written ``to_json``/``from_json`` for an audit entry (the code
    :class:`vault.store.jsonform.JsonRecord` replaced), against ``JsonRecord``'s;
(b) both against what surrounds them on the audit path: ``canonical_dumps`` of
    the entry, which every append pays anyway;
(c) a grant-book record (a signed grant nested inside) loaded both ways.
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable
from typing import Any

from protocol import (
    AccessRequest,
    Grant,
    Identity,
    Offer,
    Purpose,
    PurposeCode,
    Scope,
    canonical_dumps,
    make_grant,
    new_id,
    new_nonce,
    sign,
)
from vault.services.grantbook import GrantState
from vault.store.audit import AuditEntry

ENTRY = AuditEntry(
    3, 1_735_689_600_000, "grant.revoke", {"grant": "g1", "fields": ["a", "b"]},
    b"\x01" * 32, b"\x02" * 32, b"\x03" * 64,
)  # fmt: skip


def old_entry_to_json(e: AuditEntry = ENTRY) -> dict[str, Any]:
    return {
        "seq": e.seq, "timestamp": e.timestamp, "kind": e.kind, "details": e.details,
        "prev_hash": e.prev_hash.hex(), "hash": e.hash.hex(), "signature": e.signature.hex(),
    }  # fmt: skip


def old_entry_from_json(d: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        seq=int(d["seq"]), timestamp=int(d["timestamp"]), kind=str(d["kind"]),
        details=d["details"], prev_hash=bytes.fromhex(d["prev_hash"]),
        hash=bytes.fromhex(d["hash"]), signature=bytes.fromhex(d["signature"]),
    )  # fmt: skip


def old_grant_from_json(d: dict[str, Any]) -> GrantState:
    return GrantState(
        grant=Grant.model_validate(d["grant"]), revoked_at=d["revoked_at"], notice=None,
        notice_delivered=d.get("notice_delivered"), receipts=list(d.get("receipts", [])),
    )  # fmt: skip


def per_call_us(fn: Callable[[], object], n: int) -> float:
    return min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    n = parser.parse_args().n

    data = ENTRY.to_json()
    assert data == old_entry_to_json() and AuditEntry.from_json(data) == ENTRY
    vault, biz = Identity.generate(), Identity.generate()
    request = AccessRequest(
        request_id=new_id(), requester=biz.peer_id, vault=vault.peer_id,
        scope=Scope.of(["contact.email", "address.home.*"], ["read", "subscribe"]),
        purpose=Purpose(code=PurposeCode.SERVICE_PROVISION, text="deliver your order"),
        duration_days=30, retention_days=7, offer=Offer(description="free delivery"),
        nonce=new_nonce(), ts=1,
    )  # fmt: skip
    state = GrantState(make_grant(sign(request, biz), vault, now_ms=1))
    stored = state.to_json()
    assert old_grant_from_json(stored) == GrantState.from_json(stored) == state

    rows: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        ("audit entry to_json", old_entry_to_json, ENTRY.to_json),
        ("audit entry from_json", lambda: old_entry_from_json(data),
         lambda: AuditEntry.from_json(data)),
        ("grant state from_json", lambda: old_grant_from_json(stored),
         lambda: GrantState.from_json(stored)),
    ]  # fmt: skip
    dumps = per_call_us(lambda: canonical_dumps(data), n)
    print(f"{'':24s} {'hand-written':>12s} {'TypeAdapter':>12s} {'ratio':>6s}")
    for name, old, new in rows:
        a, b = per_call_us(old, n), per_call_us(new, n)
        print(f"{name:24s} {a:10.2f} us {b:10.2f} us {b / a:5.2f}x")
    print(f"canonical_dumps of the entry (paid on every append anyway): {dumps:.2f} us")


if __name__ == "__main__":
    main()
