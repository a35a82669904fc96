"""Suite-wide settings.

New vaults get RFC 9106's Argon2id costs (64 MiB, t=3), about 5x the OWASP floor.
The suite creates and opens hundreds of vaults, in this process and in
subprocesses (which inherit the environment), so it asks for the floor instead
(``vault.store.crypto.ENV_TEST_FAST_KDF``). Tests of the default costs unset it.
"""

from __future__ import annotations

import os

os.environ.setdefault("KLUIS_TEST_FAST_KDF", "1")
