"""Real `qlambda serve` processes attacked over HTTP, with another user's data present.

The server helpers are those of the gateway tests (loaded from their file: test
folders are not packages).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def _gateway_helpers():
    name = "qlambda_gateway_test_helpers"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "gateway" / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


helpers = _gateway_helpers()
ServerProcess = helpers.ServerProcess
make_users = helpers.make_users


@pytest.fixture
def new_server(tmp_path):
    """``new_server(*options, users=("alice", "bob"), database_url=None)``: a server of this
    test's own over ``tmp_path/data``; tokens in ``.tokens``; stopped after the test."""
    started: list = []

    def start(
        *options: str,
        users: tuple[str, ...] = ("alice", "bob"),
        admin: str | None = "root",
        database_url: str | None = None,
    ):
        data_dir = tmp_path / "data"
        data_dir.mkdir(exist_ok=True)
        tokens = make_users(data_dir, *users, admin=admin, database_url=database_url)
        process = ServerProcess(data_dir, *options, database_url=database_url)
        process.tokens = tokens
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


def config_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "server.toml"
    path.write_text(text)
    return str(path)
