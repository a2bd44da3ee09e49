"""apt-get for the scripts that install what the tests need (run as root)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence


def apt_install(packages: Sequence[str], *, recommends: bool = True) -> None:
    """``apt-get update`` then ``apt-get install`` of ``packages``, without questions."""
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=environment)
    options = [] if recommends else ["--no-install-recommends"]
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", *options, *packages], check=True, env=environment
    )
