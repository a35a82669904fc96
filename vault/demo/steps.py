"""The demo's bookkeeping: each step states what should happen and checks that it did.

``kluis demo`` exits 0 only if every step behaved, so a step is a real check,
never decoration. Shared by the local and the network acts of the demo.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from rich.console import Console

from protocol import KluisError

__all__ = ["Steps"]


class Steps:
    """Runs named checks, prints a mark per step, and remembers whether all passed."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.ok = True
        self.count = 0
        self.failed: list[str] = []

    def check(self, title: str, passed: bool, detail: str = "") -> bool:
        self.count += 1
        mark = "[green]✔[/green]" if passed else "[red]✘[/red]"
        self.console.print(f"{mark} {title}" + (f" [dim]({detail})[/dim]" if detail else ""))
        if not passed:
            self.ok = False
            self.failed.append(title)
        return passed

    def expect_error(
        self, title: str, error: type[KluisError], action: Callable[[], object]
    ) -> KluisError | None:
        try:
            action()
        except error as exc:
            self.check(title, True, f"{exc.code.value}: {exc.message}")
            return exc
        except KluisError as exc:
            self.check(title, False, f"wrong error {type(exc).__name__}: {exc.message}")
            return None
        self.check(title, False, "no error raised")
        return None

    async def expect_error_async(
        self, title: str, error: type[KluisError], action: Callable[[], Awaitable[object]]
    ) -> KluisError | None:
        try:
            await action()
        except error as exc:
            self.check(title, True, f"{exc.code.value}: {exc.message}")
            return exc
        except KluisError as exc:
            self.check(title, False, f"wrong error {type(exc).__name__}: {exc.message}")
            return None
        self.check(title, False, "no error raised")
        return None

    def act(self, title: str) -> None:
        self.console.print()
        self.console.rule(f"[b]{title}[/b]", align="left")
