"""``protocol.standins``: a module imported with some of its imports deferred behaves
as if imported plainly, and the deferred module loads only when used.

Each check runs in a fresh interpreter (a real subprocess): the mechanism acts on
first imports, which this test process may be past.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def run_python(code: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_a_deferred_import_loads_on_first_use(tmp_path: Path) -> None:
    (tmp_path / "heavy.py").write_text(
        "print('heavy loaded')\n"
        "class Thing:\n"
        "    KIND = 'real'\n"
        "    def __init__(self, n): self.n = n\n"
        "    @classmethod\n"
        "    def make(cls): return cls(7)\n"
        "def double(x): return 2 * x\n"
    )
    (tmp_path / "light.py").write_text(
        "from heavy import Thing, double\ndef use(): return Thing(3), double(4)\n"
    )
    out = run_python(
        """
        import sys
        sys.path.insert(0, '.')
        from protocol.standins import defer_imports
        defer_imports('light', {'heavy': ('Thing', 'double')})
        import light
        print('heavy' in sys.modules)
        thing, eight = light.use()
        import heavy
        print(type(thing) is heavy.Thing, thing.n, eight, light.Thing.KIND, light.Thing.make().n)
        print(sys.modules['heavy'] is heavy, hasattr(heavy, '__file__'))
        """,
        cwd=tmp_path,
    )
    assert out.splitlines() == ["False", "heavy loaded", "True 3 8 real 7", "True True"]


def test_libp2p_host_loads_without_its_autotls_client() -> None:
    """D38: importing the runtime loads no ACME client, httpx or requests; the names
    py-libp2p's host took from them still work (the real function's answer)."""
    out = run_python(
        """
        import sys
        import protocol.runtime
        import libp2p.host.basic_host as bh
        gone = [m for m in ('httpx', 'requests', 'libp2p.security.tls.autotls.acme',
                            'libp2p.security.tls.autotls.broker') if m in sys.modules]
        print(gone)
        from libp2p.peer.id import ID
        from protocol import Identity
        peer = ID.from_base58(Identity.generate().peer_id)
        via_host = bh.compute_b36_peer_id(peer)
        from libp2p.security.tls.autotls.acme import compute_b36_peer_id
        print(via_host == compute_b36_peer_id(peer), len(via_host) > 10)
        print(bh.BrokerClient.__name__)
        """
    )
    assert out.splitlines() == ["[]", "True True", "BrokerClient"]
