"""Makes sure bubblewrap (``bwrap``), which sandboxes a shared server's jobs, is here.

Installs Debian's ``bubblewrap`` with apt-get when it is missing (needs root), then
checks that it can create the namespaces the sandbox uses. ``make test`` runs it
before the tests, since the sandbox tests and ``qlambda serve``'s default need it.

    python scripts/bubblewrap.py    # prints the bwrap path, or why it cannot work
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # debian.py
from debian import apt_install


def ensure_installed() -> str:
    """The path of a working ``bwrap``, installing Debian's package if needed."""
    found = shutil.which("bwrap")
    if found is None:
        if os.geteuid() != 0:
            raise RuntimeError(
                "bubblewrap is not installed and installing it needs root: "
                "apt-get install bubblewrap"
            )
        apt_install(["bubblewrap"])
        found = shutil.which("bwrap")
        if found is None:
            raise RuntimeError("apt-get installed bubblewrap but no bwrap was found")
    probe = subprocess.run(
        [found, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if probe.returncode != 0:
        raise RuntimeError(f"bwrap cannot create namespaces here: {probe.stderr.strip()}")
    return found


def main() -> int:
    try:
        print(f"bubblewrap: {ensure_installed()}")
    except (RuntimeError, subprocess.CalledProcessError) as error:
        print(f"bubblewrap: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
