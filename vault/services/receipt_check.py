"""``kluis receipts verify FILE``: check every signature in an exported receipts file, offline.

Anyone holding an export (``kluis receipts --export``) can check it without a
vault, a node or a network: every signature names its signer by peer id, and
an Ed25519 peer id *is* the public key. :func:`check_document` accepts

* the export document (``"format": "kluis-receipts-v1"``): every consent
  receipt (signed by the vault named in the document, with the evidence and the
  business profile it embeds), every Kantara and ISO 27560 rendering (their
  detached signatures, and the receipt inside), and every erasure (the vault's
  request and the business's receipt);
* a single consent receipt, Kantara receipt or ISO 27560 record, or a JSON list
  of them (as ``kluis receipts --id ... [--kantara | --iso27560]`` prints them).

It returns one :class:`CheckResult` per receipt, in file order. It never raises
on bad input: a file that is not JSON is one failed result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocol import ConsentReceipt, KluisError, canonical_loads, verify_receipt
from protocol.consent_export import EXPORT_SIGNATURE, verify_export
from vault.services.erasure import verify_export as verify_erasure

__all__ = ["CheckResult", "check_document"]

EXPORT_FORMAT = "kluis-receipts-v1"


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    what: str  # "consent receipt", "kantara receipt", "iso27560 record", "erasure", "file"
    ident: str
    detail: str

    @property
    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.what} {self.ident}: {self.detail}"


def _text(value: Any, limit: int = 64) -> str:
    """A peer-chosen string, made safe to print on one line."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(value))
    return text[:limit] or "?"


def _consent(item: Any, vault: str | None) -> CheckResult:
    rid = _text(item.get("receipt_id") if isinstance(item, dict) else None)
    try:
        receipt = ConsentReceipt.model_validate(item)
        verify_receipt(receipt, vault)
    except (KluisError, ValueError, TypeError):
        return CheckResult(False, "consent receipt", rid, "signature does not verify")
    return CheckResult(
        True, "consent receipt", rid, f"{receipt.kind.value}, signed by vault {receipt.vault}"
    )


def _rendered(item: Any, what: str, vault: str | None) -> CheckResult:
    ident = "?"
    if isinstance(item, dict):
        ident = _text(item.get("consentReceiptID") or item.get("dct:identifier"))
    try:
        if not isinstance(item, dict):
            raise ValueError("not an object")
        receipt = verify_export(item, vault)
    except (KluisError, ValueError, TypeError):
        return CheckResult(False, what, ident, "signature does not verify")
    return CheckResult(True, what, ident, f"{receipt.kind.value}, signed by vault {receipt.vault}")


def _erasure(item: Any, vault: str | None) -> CheckResult:
    eid = _text(item.get("erasure_id") if isinstance(item, dict) else None)
    ok = isinstance(item, dict) and verify_erasure(item)
    if ok and vault is not None and item["request"].get("vault") != vault:
        ok = False
    if not ok:
        return CheckResult(False, "erasure", eid, "signature does not verify")
    answered = "with the business's signed receipt" if item.get("receipt") else "no receipt yet"
    return CheckResult(True, "erasure", eid, f"request signed by the vault, {answered}")


def _one(item: Any, vault: str | None) -> CheckResult:
    if isinstance(item, dict) and item.get("type") == "consent_receipt":
        return _consent(item, vault)
    if isinstance(item, dict) and EXPORT_SIGNATURE in item:
        what = "iso27560 record" if "@type" in item else "kantara receipt"
        return _rendered(item, what, vault)
    return CheckResult(False, "item", "?", "not a kluis receipt")


def check_document(raw: bytes) -> list[CheckResult]:
    """Check every receipt in ``raw`` (see the module docstring)."""
    try:
        doc = canonical_loads(raw)
    except KluisError:
        return [CheckResult(False, "file", "", "not valid JSON (floats, duplicate keys, ...)")]
    if isinstance(doc, dict) and doc.get("format") == EXPORT_FORMAT:
        vault = doc.get("vault") if isinstance(doc.get("vault"), str) else None
        out = [_consent(r, vault) for r in _list(doc, "consent_receipts")]
        out += [_rendered(r, "kantara receipt", vault) for r in _list(doc, "kantara")]
        out += [_rendered(r, "iso27560 record", vault) for r in _list(doc, "iso27560")]
        out += [_erasure(e, vault) for e in _list(doc, "erasures")]
        return out
    items = doc if isinstance(doc, list) else [doc]
    return [_one(item, None) for item in items]


def _list(doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key, [])
    return value if isinstance(value, list) else [value]
