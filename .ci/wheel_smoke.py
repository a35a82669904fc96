"""Smoke test of an installed wheel: a node starts, its dashboard logs in and renders.

Run with the Python of a venv where the wheel (not an editable checkout) is
installed, from a folder outside the source tree, so that only the wheel's files
can be found: the dashboard's templates and static files must have shipped.
"""

from __future__ import annotations

import http.cookiejar
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

KLUIS = str(Path(sys.executable).with_name("kluis"))


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        env = {**os.environ, "KLUIS_HOME": str(home), "KLUIS_PASSPHRASE": "wheel smoke passphrase"}
        subprocess.run([KLUIS, "init"], env=env, check=True, capture_output=True)
        node = subprocess.Popen(
            [KLUIS, "start", "--listen", "/ip4/127.0.0.1/tcp/0", "--control-port", "0"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 60
            while not (home / "control.url").exists():
                if node.poll() is not None or time.monotonic() > deadline:
                    err = node.stderr.read().decode() if node.stderr else ""
                    print(f"wheel smoke: the node did not start: {err[-500:]}")
                    return 1
                time.sleep(0.1)
            link = subprocess.run(
                [KLUIS, "dashboard"], env=env, check=True, capture_output=True, text=True
            ).stdout
            login = next(w for w in link.split() if "/login?once=" in w)
            jar = http.cookiejar.CookieJar()
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            for page in (login, login.split("/login")[0] + "/profile"):
                with opener.open(page, timeout=30) as resp:
                    body = resp.read().decode()
                if resp.status != 200 or "kluis" not in body.lower():
                    print(f"wheel smoke: {page} answered {resp.status}")
                    return 1
            with opener.open(login.split("/login")[0] + "/static/kluis.css", timeout=30) as resp:
                if resp.status != 200:
                    print("wheel smoke: the dashboard's static files did not ship")
                    return 1
        finally:
            node.terminate()
            node.wait(timeout=30)
    print("wheel smoke: node started from the wheel; dashboard logged in and rendered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
