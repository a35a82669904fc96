"""`kluis business profile set | show | well-known`: the business says who it is."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from protocol.business import parse_well_known
from vault.cli.exits import EXIT_ERROR
from vault.cli.main import app

PASS = "business passphrase that is long"


def test_profile_set_show_and_well_known(tmp_path: Path) -> None:
    env = {"KLUIS_BUSINESS_HOME": str(tmp_path / "b"), "KLUIS_BUSINESS_PASSPHRASE": PASS}

    def cli(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(app, ["business", *args], env=env)

    assert cli("init").exit_code == 0
    peer = cli("id").stdout.strip()
    out = cli("profile", "show")
    assert out.exit_code == EXIT_ERROR and "no business profile yet" in out.output
    # the first profile needs its required fields: a one-line error, not a dump
    out = cli("profile", "set", "--display-name", "De Spaak")
    assert (
        out.exit_code == EXIT_ERROR
        and out.output.count("\n") == 1
        and "invalid business profile" in out.output
    )
    out = cli(
        "profile", "set", "--display-name", "Fietsenwinkel De Spaak",
        "--legal-name", "De Spaak Fietsen B.V.", "--website", "https://despaak.nl",
        "--privacy-policy-url", "https://despaak.nl/privacy",
        "--contact-email", "privacy@despaak.nl", "--jurisdiction", "NL",
        "--street", "Spaakstraat 1", "--locality", "Amsterdam", "--country", "NL",
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    # change one field; the rest stay
    assert cli("profile", "set", "--phone", "+31201234567").exit_code == 0
    shown = json.loads(cli("profile", "show", "--json").stdout)
    assert shown["display_name"] == "Fietsenwinkel De Spaak" and shown["phone"] == "+31201234567"
    assert shown["address"]["locality"] == "Amsterdam" and shown["peer_id"] == peer
    assert "despaak.nl/.well-known/kluis.json" in cli("profile", "show").stdout
    assert parse_well_known(cli("profile", "well-known").stdout.encode()) == {peer}
    # refused at the boundary: a bidi override in the name, plain http
    out = cli("profile", "set", "--display-name", "Spaak\u202eDe")
    assert out.exit_code == EXIT_ERROR and "display_name" in out.output
    out = cli("profile", "set", "--website", "http://despaak.nl")
    assert out.exit_code == EXIT_ERROR and "website" in out.output
