"""The profile accepts only what the wire can carry, and says why not (issue 13, §4)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from typer.testing import Result

from protocol import Identity, ReadResult, Update, dump_message, limits
from tests.conftest import ManualClock
from vault._exceptions import InvalidValue
from vault.services.access import AccessService
from vault.services.grantbook import GrantBook
from vault.services.ratelimit import RateLimiter
from vault.services.rules import RuleBook
from vault.store.profile import ProfileField, encode_field
from vault.store.schema import validate_value
from vault.store.vault import Vault

from .access_helpers import access_request, read
from .conftest import PASSPHRASE
from .serving import answer

ALICE = Identity.generate()
STREET = "Oudegracht 12\r\nUtrecht"

REFUSED: list[tuple[str, Any, str]] = [
    ("address.home.street", STREET, "control characters"),
    ("name.given", "Anna\tde Vries", "control characters"),
    ("custom.note", "line\nbreak", "control characters"),
    ("custom.x", 2**60, "between -9007199254740991 and 9007199254740991"),
    ("preferences.limit", -(2**53), "between -9007199254740991"),
    ("custom.x", "x" * 1025, "at most 1000 characters"),
    ("interests", [f"interest {i}" for i in range(limits.MAX_LIST_ITEMS + 1)], "at most 64"),
]


@pytest.mark.parametrize(("path", "value", "reason"), REFUSED)
def test_values_the_wire_refuses_are_refused_with_a_reason(
    vault: Vault, path: str, value: Any, reason: str
) -> None:
    before = len(vault.audit)
    with pytest.raises(InvalidValue) as info:
        vault.profile.set(path, value)
    message = info.value.message
    assert reason in message and "\n" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    needles = value if isinstance(value, list) else [value]
    assert not any(str(n) in message for n in needles)
    assert vault.profile.record(path) is None and len(vault.audit) == before


def test_limits_at_the_edge_are_accepted(vault: Vault) -> None:
    vault.profile.set("custom.big", limits.MAX_INT)
    vault.profile.set("custom.small", -limits.MAX_INT)
    vault.profile.set("interests", [f"i{i}" for i in range(limits.MAX_LIST_ITEMS)])
    vault.profile.set("custom.text", "x" * 1000)
    assert vault.profile.get("custom.big") == 2**53 - 1


def test_cli_says_what_is_wrong_in_one_line(cli: Callable[..., Result]) -> None:
    assert cli("init").exit_code == 0
    result = cli("set", "custom.x", "y" * 1025)
    assert result.exit_code != 0
    assert "at most 1000 characters" in result.output and "boolean" not in result.output
    assert "y" * 50 not in result.output
    result = cli("set", "custom.x", str(2**60))  # an integer too big for JavaScript peers
    assert result.exit_code != 0 and "between -9007199254740991" in result.output


@given(
    value=st.one_of(
        st.booleans(),
        st.integers(),
        st.text(max_size=1100),
        st.lists(st.text(max_size=70), max_size=70),
    ),
    path=st.sampled_from(
        ["custom.a", "preferences.b", "interests", "address.home.street", "name.given"]
    ),
)
def test_whatever_the_profile_stores_the_wire_carries(value: Any, path: str) -> None:
    try:
        clean = validate_value(path, value)
    except InvalidValue:
        return
    Update(
        grant_id="g" * 32,
        path=path,
        value=tuple(clean) if isinstance(clean, list) else clean,
        deleted=False,
        version=1,
        ts=1,
    )


def test_wire_validation_errors_never_carry_the_value() -> None:
    with pytest.raises(ValidationError) as info:
        Update(grant_id="g" * 32, path="p", value=STREET, deleted=False, version=1, ts=1)
    assert "Oudegracht" not in str(info.value) and "Oudegracht" not in repr(info.value)


async def test_a_value_stored_before_the_limits_is_skipped_not_logged(
    home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A vault from before this check may hold such a value: reads go on, the log stays clean."""
    from protocol.clock import now_ms

    clock = ManualClock(now_ms())
    with Vault.create(home, PASSPHRASE, clock=clock) as vault:
        vault.profile.set("address.home.city", "Utrecht")
        legacy = ProfileField("address.home.street", STREET, 1, clock())
        vault.store.put("profile", legacy.path, encode_field(legacy))
        svc = AccessService(
            vault, GrantBook(vault), RuleBook(vault), limiter=RateLimiter(rate=50, burst=100)
        )
        req = access_request(ALICE, vault.peer_id, ["address.*"])
        svc.grants.submit(req)
        grant = svc.grants.approve(req.request_id)
        caplog.set_level(logging.DEBUG)
        result = answer(
            svc, ALICE.peer_id, dump_message(read(ALICE, grant.grant_id, ["address.*"]))
        )
        if inspect.isawaitable(result):
            result = asyncio.run(result)
        assert isinstance(result, ReadResult)
        assert set(result.values) == {"address.home.city"}
        assert result.values["address.home.city"].value == "Utrecht"
    logged = caplog.text + "".join(str(r.exc_info) for r in caplog.records)
    assert "address.home.street" in logged and "Oudegracht" not in logged
