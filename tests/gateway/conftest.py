"""A shared `qlambda serve` for the gateway tests (helpers in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def server(tmp_path_factory, servers):
    """A shared server with users alice, bob and the admin root."""
    data_dir = tmp_path_factory.mktemp("gateway")
    tokens = servers.make_users(data_dir, "alice", "bob", admin="root")
    process = servers.ServerProcess(data_dir, "--workers", "2").start()
    process.tokens = tokens
    yield process
    process.stop()
