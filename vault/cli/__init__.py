"""The ``kluis`` command line. :mod:`vault.cli.main` is the entry point and the one place
where an exception becomes an exit code."""
