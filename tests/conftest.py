"""Shared fixtures. Processes started here are the tests' own and are stopped by them."""

from __future__ import annotations

import itertools
import os
import sys

import pytest

# Workers inherit this; BLAS threads would oversubscribe the 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _load_postgres_helper():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "postgres_server.py"
    spec = importlib.util.spec_from_file_location("qlambda_postgres_server", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server on loopback for the whole session, stopped by its pid."""
    server = _load_postgres_helper().start()
    yield server
    server.stop()


@pytest.fixture
def own_postgres():
    """A PostgreSQL server for this test alone, which it may kill -9 and restart
    (``.kill()``, ``.restart()``: same port, same data)."""
    server = _load_postgres_helper().start()
    yield server
    server.stop()


_databases = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """An empty database of each kind the store supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    server = request.getfixturevalue("postgres_server")
    return server.create_database(f"test_{os.getpid()}_{next(_databases)}")
