"""The one clock and the one way a time becomes text."""

from __future__ import annotations

import time

import pytest

from protocol.clock import DAY_MONTH, ISO, MINUTE, MINUTE_UTC, SECOND, format_ms, now_ms

#: 2025-03-04 05:06:07.890 UTC
T = 1_741_064_767_890


def test_now_ms_is_integer_wall_time() -> None:
    before = time.time_ns() // 1_000_000
    now = now_ms()
    after = time.time_ns() // 1_000_000
    assert type(now) is int
    assert before <= now <= after


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        (MINUTE, "2025-03-04 05:06"),
        (MINUTE_UTC, "2025-03-04 05:06 UTC"),
        (SECOND, "2025-03-04 05:06:07"),
        (ISO, "2025-03-04T05:06:07Z"),
        (DAY_MONTH, "04 Mar"),
    ],
)
def test_formats(fmt: str, text: str) -> None:
    assert format_ms(T, fmt) == text


def test_default_format_is_minutes() -> None:
    assert format_ms(T) == "2025-03-04 05:06"


def test_sub_second_digits_are_dropped_not_rounded() -> None:
    assert format_ms(1999, SECOND) == "1970-01-01 00:00:01"
    assert format_ms(59_999, MINUTE) == "1970-01-01 00:00"


def test_no_time_is_the_missing_text() -> None:
    assert format_ms(None) == ""
    assert format_ms(None, MINUTE_UTC, missing="—") == "—"
