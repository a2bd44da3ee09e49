"""The web dashboard: the platform in a browser, at ``/ui`` of ``qlambda serve`` (and of
``qlambda dashboard`` for an embedded platform's data directory).

Server-rendered pages (FastAPI and Jinja2) over the API's own parts: its token
authentication, its event streams, its submissions and its users' routes; charts are SVG
drawn on the server; a small static script makes the pages live. See docs/dashboard.md.
"""

from __future__ import annotations

from qlambda.dashboard.web import mount

__all__ = ["mount"]
