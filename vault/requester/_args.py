"""What the SDK's callers pass in, checked and turned into protocol values.

A business script passes strings (a purpose's name, a vault's multiaddr) and
keyword arguments; a mistake is a :class:`~vault.requester.RequesterError`
with one line saying what is wrong, never a pydantic dump.
"""

from __future__ import annotations

import contextlib

from pydantic import ValidationError

from protocol import PurposeCode, SignatureError, public_key_from_peer_id
from vault.requester._errors import RequesterError

__all__ = ["bad_args", "parse_purpose", "vault_peer_of"]


def parse_purpose(value: PurposeCode | str) -> PurposeCode:
    """``ServiceProvision``, ``dpv:ServiceProvision`` or ``SERVICE_PROVISION`` → the code."""
    if isinstance(value, PurposeCode):
        return value
    text = str(value).strip()
    for candidate in (text, f"dpv:{text}"):
        with contextlib.suppress(ValueError):
            return PurposeCode(candidate)
    with contextlib.suppress(KeyError):
        return PurposeCode[text.upper()]
    for code in PurposeCode:
        if code.term.lower() == text.lower().removeprefix("dpv:"):
            return code
    choices = ", ".join(code.term for code in PurposeCode)
    raise RequesterError(f"unknown purpose {text[:60]!r}; choose one of: {choices}")


def vault_peer_of(addr: str) -> str:
    """The vault's peer id: ``addr`` is a multiaddr ending in ``/p2p/<peer id>``, or the id."""
    peer = addr.rsplit("/p2p/", 1)[1] if "/p2p/" in addr else addr.strip()
    try:
        public_key_from_peer_id(peer)
    except SignatureError as exc:
        raise RequesterError(
            "a vault is named by its peer id or a multiaddr ending in /p2p/<its peer id>"
        ) from exc
    return peer


def bad_args(exc: ValidationError, what: str) -> RequesterError:
    """A one-line error naming the first few invalid arguments (never their values)."""
    errs = exc.errors(include_input=False, include_url=False, include_context=False)[:3]
    parts = [f"{'.'.join(str(p) for p in e['loc']) or what}: {e['msg']}" for e in errs]
    return RequesterError(f"invalid {what}: " + "; ".join(parts))
