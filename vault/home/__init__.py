"""``KLUIS_HOME``: where a node's files live, the lock that makes one process their writer,
``config.toml``, and crash-safe whole-file writes. The lowest floor of :mod:`vault`."""
