"""No personal value ever reaches a log (issue 13, §4).

The whole demo runs (every act: the local vault, the libp2p network, the
agents) with every logger of every library forced to DEBUG, and every record
is captured before any level, filter or handler can drop it. Then every
profile value any vault stored during the run is searched for in the rendered
records, tracebacks included.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console

from vault.store.profile import Profile, ProfileField

#: Values shorter than this are not searched for: "39" or "nl" occur in any log.
MIN_NEEDLE = 4


class Capture:
    """Every log record of every logger, rendered with its traceback."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.loggers: set[str] = set()

    def add(self, record: logging.LogRecord) -> None:
        self.loggers.add(record.name)
        parts = [record.name, record.getMessage()]
        if record.exc_info:
            parts.append("".join(traceback.format_exception(*record.exc_info)))
        if record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(record.stack_info)
        self.texts.append("\n".join(parts))


@pytest.fixture
def capture(monkeypatch: pytest.MonkeyPatch) -> Iterator[Capture]:
    cap = Capture()
    original = logging.Logger.handle

    def handle(self: logging.Logger, record: logging.LogRecord) -> None:
        cap.add(record)  # before the logger's own filters and 'disabled' flag
        original(self, record)

    monkeypatch.setattr(logging.Logger, "isEnabledFor", lambda self, level: True)
    monkeypatch.setattr(logging.Logger, "handle", handle)
    monkeypatch.setattr(logging.root, "level", logging.DEBUG)
    yield cap


@pytest.fixture
def stored(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    values: list[Any] = []
    original = Profile._commit

    def commit(self: Profile, rec: ProfileField, kind: str, extra: dict[str, Any]) -> ProfileField:
        values.append(rec.value)
        return original(self, rec, kind, extra)

    monkeypatch.setattr(Profile, "_commit", commit)
    return values


def _needles(values: list[Any]) -> set[str]:
    out: set[str] = set()
    for value in values:
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, str) and len(item) >= MIN_NEEDLE:
                out.add(item)
            elif isinstance(item, int) and not isinstance(item, bool) and len(str(item)) >= 5:
                out.add(str(item))
    return out


def test_whole_demo_at_debug_logs_no_profile_value(
    capture: Capture, stored: list[Any], tmp_path: Any
) -> None:
    from vault.demo.run import run_demo

    console = Console(file=(tmp_path / "demo.txt").open("w"), width=120)
    assert run_demo(console) == 0, (tmp_path / "demo.txt").read_text()[-3000:]
    needles = _needles(stored)
    assert {"Prinsengracht 263", "anna.devries@example.org"} <= needles  # the run stored them
    assert len(capture.texts) > 100 and any(n.startswith("libp2p") for n in capture.loggers)
    leaks = {needle: text[:300] for text in capture.texts for needle in needles if needle in text}
    assert not leaks, leaks
