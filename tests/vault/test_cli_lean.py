"""What :mod:`vault.cli.lean` changes in typer, it changes without changing behaviour.

Each check runs in a fresh interpreter (a real subprocess), because both patches
act on first imports, which a test process that imported typer already is past.
"""

from __future__ import annotations

import os
import subprocess
import sys


def run_python(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def kluis(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLUIS_")}
    return subprocess.run(
        [sys.executable, "-m", "vault", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_the_stand_ins_become_the_real_classes() -> None:
    """typer.rich_utils imported with stand-ins: using them gives rich's own classes,
    and ``rich.markdown`` imported afterwards is the real module."""
    out = run_python(
        "import sys, vault.cli.main\n"
        "import typer.rich_utils as ru\n"
        "assert 'rich.markdown' not in sys.modules and 'rich.traceback' not in sys.modules\n"
        "md = ru.Markdown('x *y*')\n"
        "import rich.markdown, rich.traceback\n"
        "assert type(md) is rich.markdown.Markdown, type(md)\n"
        "assert ru.Traceback.from_exception is not None\n"
        "assert rich.traceback.Traceback.__module__ == 'rich.traceback'\n"
        "print('ok')\n"
    )
    assert out.strip() == "ok"


def test_markdown_help_still_renders_through_the_stand_in() -> None:
    out = run_python(
        "import vault.cli.main, typer\n"
        "from typer.testing import CliRunner\n"
        "app = typer.Typer(rich_markup_mode='markdown')\n"
        "@app.command()\n"
        "def hello() -> None:\n"
        "    '''Say **hello** to the `world`.'''\n"
        "print(CliRunner().invoke(app, ['--help']).output)\n"
    )
    assert "Say hello to the world" in out  # the Markdown was parsed: no ** or ` left


def test_a_missing_argument_is_still_a_usage_error() -> None:
    res = kluis("get")
    assert res.returncode == 2 and "Missing argument" in res.stderr


def test_a_given_value_is_still_checked() -> None:
    res = kluis("intent", "send", "x.toml", "--peer-timeout", "soon")
    assert res.returncode == 2 and "--peer-timeout" in res.stderr


#: A command with unset, given and repeatable options, invoked four ways; it prints
#: what the function received (and the exit code), or the first line of help.
PROBE = """
import typer
from typing import Annotated
from typer.testing import CliRunner
app = typer.Typer()
def check(value: str | None) -> str | None:
    print("callback saw", repr(value))
    return value
@app.command()
def show(
    one: Annotated[int | None, typer.Option()] = None,
    many: Annotated[list[str] | None, typer.Option()] = None,
    named: Annotated[str | None, typer.Option(callback=check)] = None,
    needed: Annotated[str, typer.Option()] = ...,
) -> None:
    print(repr(one), repr(many), repr(named), repr(needed))
for args in ([], ["--needed", "n"], ["--one", "3", "--many", "a", "--named", "x", "--needed", "n"],
             ["--one", "three", "--needed", "n"]):
    res = CliRunner().invoke(app, args)
    print(res.exit_code, res.output.strip().splitlines()[:2])
"""


def test_unset_options_behave_as_in_plain_typer() -> None:
    """Same output with the patch as without: None, an empty repeatable option, a
    callback given None, a missing required option refused, a bad value refused."""
    plain = run_python(PROBE)
    patched = run_python("import vault.cli.main\n" + PROBE)
    assert patched == plain
    assert "callback saw None" in plain and "'x'" in plain  # the probe did run each path


def test_the_trimmed_app_answers_as_the_whole_one() -> None:
    """``kluis NAME …`` builds only NAME (D38): same help, same usage errors; an
    option first or an unknown name gets the whole app (root help, suggestions)."""
    from typer.testing import CliRunner

    from vault.cli.main import app, only_command

    names = [c.name or c.callback.__name__ for c in app.registered_commands if c.callback]
    names += [g.name for g in app.registered_groups if g.name]
    assert len(names) > 30 and "get" in names and "business" in names
    runner = CliRunner()
    for name in names:
        trimmed = only_command([name, "--help"])
        assert trimmed is not app
        assert len(trimmed.registered_commands) + len(trimmed.registered_groups) == 1, name
        for args in ([name, "--help"], [name, "--no-such-option"]):
            got, want = runner.invoke(trimmed, args), runner.invoke(app, args)
            assert (got.exit_code, got.output) == (want.exit_code, want.output), args
    for args in ([], ["--help"], ["-V"], ["gets"]):
        assert only_command(args) is app
