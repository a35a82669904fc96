"""`run_agents_story` (the agents part of `kluis demo`) and the agents CLI commands."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from agents.tournament import default_domains_dir
from protocol.listen import LOOPBACK
from tests.conftest import PASSPHRASE
from vault.cli.exits import EXIT_ERROR, EXIT_NO_NODE
from vault.cli.main import app
from vault.demo.agents_act import DEMO_INTENT, run_agents_story
from vault.store.vault import Vault

pytestmark = pytest.mark.timeout(60)


async def test_the_agents_story_behaves() -> None:
    buf = io.StringIO()
    assert await run_agents_story(Console(file=buf, width=120, force_terminal=False))
    text = buf.getvalue()
    assert "✘" not in text
    assert "reads the shared field" in text


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "vault"
    Vault.create(folder, PASSPHRASE).close()
    return folder


def _run(args: list[str], home: Path) -> object:
    return CliRunner().invoke(
        app, args, env={"KLUIS_HOME": str(home), "KLUIS_PASSPHRASE": PASSPHRASE}
    )


def test_cli_agreements_without_a_node(home: Path) -> None:
    result = _run(["agreements"], home)
    assert result.exit_code == 0, result.output
    assert "no agreements yet" in result.output
    result = _run(["agreements", "--json"], home)
    assert result.exit_code == 0 and json.loads(result.output) == []


def test_cli_deals_and_confirm_need_a_running_node(home: Path) -> None:
    for args in (["deals"], ["confirm", "abc"]):
        result = _run(args, home)
        assert result.exit_code == EXIT_NO_NODE
        assert "no running node" in result.output


def test_cli_intent_send_refuses_a_bad_file(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("category = [", encoding="utf-8")
    result = _run(["intent", "send", str(bad)], home)
    assert result.exit_code == EXIT_ERROR and "cannot read the intent file" in result.output
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text(json.dumps({"category": "phone"}), encoding="utf-8")
    result = _run(["intent", "send", str(incomplete)], home)
    assert result.exit_code == EXIT_ERROR and "invalid intent file" in result.output
    listed = tmp_path / "listed.json"
    listed.write_text("[1, 2]", encoding="utf-8")
    result = _run(["intent", "send", str(listed)], home)
    assert result.exit_code == EXIT_ERROR and "holds a table (TOML) or an object" in result.output


def test_one_reader_for_toml_and_json_intent_files(tmp_path: Path) -> None:
    from vault.services.agent_service import read_intent_file

    as_toml = tmp_path / "intent.TOML"
    as_toml.write_text('category = "phone"\nrounds = 3\n', encoding="utf-8")
    as_json = tmp_path / "intent.json"
    as_json.write_text('{"category": "phone", "rounds": 3}', encoding="utf-8")
    assert (
        read_intent_file(as_toml) == read_intent_file(as_json) == {"category": "phone", "rounds": 3}
    )


def test_cli_intent_send_offline_without_businesses(home: Path, tmp_path: Path) -> None:
    """No business listens: the agent finds nobody on the topic and says so."""
    intent = tmp_path / "intent.json"
    intent.write_text(json.dumps({**DEMO_INTENT, "window_seconds": 0.2}), encoding="utf-8")
    (home / "config.toml").write_text(f'[network]\nlisten = ["{LOOPBACK[0]}"]\n')  # not 0.0.0.0
    result = _run(["intent", "send", str(intent), "--peer-timeout", "0.3"], home)
    assert result.exit_code == EXIT_ERROR, result.output
    assert "no business listens" in result.output


def test_cli_agents_tournament() -> None:
    """The shipped domains by default (no ../shared needed)."""
    args = ["agents", "tournament", "--only", "phone-contract", "--rounds", "10", "--no-breakdown"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "default" in result.output and "1 domain," in result.output


@pytest.mark.skipif(not default_domains_dir().is_dir(), reason="shared ANAC scenarios not present")
def test_cli_agents_tournament_on_anac() -> None:
    args = ["agents", "tournament", "--scenarios", str(default_domains_dir()), "--only", "Laptop",
            "--rounds", "10", "--no-breakdown"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "default" in result.output


def test_the_example_intent_file_loads() -> None:
    from protocol import Identity
    from vault.services.agent_service import load_intent_file

    owner = Identity.generate()
    spec, mandate = load_intent_file(Path(__file__).parents[2] / "examples" / "intent_phone.toml",
                                     owner)  # fmt: skip
    assert spec.category == "phone" and spec.price_issue == "price"
    assert spec.fields_issue == "shared"
    assert mandate is not None and mandate.confirm_above_cents == 2000
    mandate.verify(owner.peer_id)
