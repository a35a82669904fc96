"""``python -m vault`` runs the ``kluis`` command line."""

from .cli import main

main()
