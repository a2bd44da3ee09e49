"""Makes sure a headless Chromium, which the dashboard's browser tests drive, is here.

Installs Debian's ``chromium`` with apt-get when it is missing (needs root), then checks
that it starts headless and prints its version. ``make test`` runs it before the tests;
the tests drive it with Playwright for Python through its ``executable_path`` (Playwright's
own browser download is not used).

    python scripts/chromium.py    # prints the chromium path and version, or why it cannot work
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # debian.py
from debian import apt_install

CANDIDATES = ("chromium", "chromium-browser")
PACKAGE = "chromium"


def find() -> str | None:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found is not None:
            return found
    return None


def ensure_installed() -> tuple[str, str]:
    """The path and version of a working Chromium, installing Debian's package if needed."""
    found = find()
    if found is None:
        if os.geteuid() != 0:
            raise RuntimeError(
                f"chromium is not installed and installing it needs root: apt-get install {PACKAGE}"
            )
        print(f"chromium: not found; installing Debian's {PACKAGE} with apt-get", flush=True)
        apt_install([PACKAGE], recommends=False)
        found = find()
        if found is None:
            raise RuntimeError(f"apt-get installed {PACKAGE} but no chromium command was found")
    probe = subprocess.run(
        [found, "--headless", "--no-sandbox", "--disable-gpu", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.returncode != 0:
        raise RuntimeError(f"{found} does not start: {probe.stderr.strip()}")
    return found, probe.stdout.strip()


def main() -> int:
    try:
        path, version = ensure_installed()
    except (RuntimeError, subprocess.CalledProcessError, OSError) as error:
        print(f"chromium: {error}", file=sys.stderr)
        return 1
    print(f"chromium: {path} ({version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
