"""Versioned protocol ids."""

from __future__ import annotations

import pytest

from protocol import (
    ACCESS,
    CONTACT,
    DELIVERY,
    NEGOTIATE,
    ProtocolId,
    RemoteProtocolError,
    is_compatible,
    parse_protocol_id,
)


def test_known_ids() -> None:
    assert ACCESS == "/kluis/access/1.0.0"
    for pid in (ACCESS, NEGOTIATE, CONTACT, DELIVERY):
        parsed = parse_protocol_id(pid)
        assert str(parsed) == pid and parsed.major == 1
    assert parse_protocol_id("/kluis/access/2.10.3") == ProtocolId("access", 2, 10, 3)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "/kluis/access",
        "/kluis/access/1.0",
        "/kluis/Access/1.0.0",
        "/other/access/1.0.0",
        "/kluis/access/01.0.0",
        "/kluis/access/1.0.0/",
        "/kluis/access/1.0.0\n",
        5,
    ],
)
def test_bad_ids(bad: object) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_protocol_id(bad)  # type: ignore[arg-type]


def test_compatibility() -> None:
    assert is_compatible("/kluis/access/1.4.2", ACCESS)
    assert not is_compatible("/kluis/access/2.0.0", ACCESS)
    assert not is_compatible(NEGOTIATE, ACCESS)
    assert not is_compatible("garbage", ACCESS)
