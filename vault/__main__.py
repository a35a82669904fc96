"""``python -m vault`` runs the ``kluis`` command line."""

from vault.cli.main import main

main()
