"""The vault at rest: the key hierarchy, sealed SQLite records, the profile and its schema,
the signed audit chain and backups. Nothing here does network I/O."""
