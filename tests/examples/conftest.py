"""A real `qlambda serve` for the examples that talk HTTP (the gateway tests' harness)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def _gateway_harness():
    path = Path(__file__).resolve().parents[1] / "gateway" / "conftest.py"
    spec = importlib.util.spec_from_file_location("qlambda_gateway_harness", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def http_server(tmp_path_factory):
    """A server with the user alice; ``.tokens["alice"]`` is her token."""
    harness = _gateway_harness()
    data_dir = tmp_path_factory.mktemp("server")
    tokens = harness.make_users(data_dir, "alice")
    server = harness.ServerProcess(data_dir, "--workers", "2").start()
    server.tokens = tokens
    yield server
    server.stop()
