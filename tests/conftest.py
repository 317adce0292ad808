"""Fixtures shared by every test folder: the sandbox API over real HTTP."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from purelink.sandbox import serve


@pytest.fixture(scope="session")
def sandbox():
    """The default sandbox (seed 0, 3,421 customers), shared by the session: do not mutate it."""
    with serve(seed=0) as s:
        yield s


@pytest.fixture
def sandbox_factory():
    """Start sandboxes with their own options (faults, sizes); stopped after the test."""
    started = []

    def make(**options):
        s = serve(**options)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


PG_BIN = Path(os.environ.get("PURELINK_PG_BIN", "/usr/lib/postgresql/15/bin"))


@pytest.fixture(scope="session")
def require_postgres() -> None:
    """Skip without PostgreSQL server binaries and the ADBC driver, except in CI, where a missing
    server is a failure."""
    if not (PG_BIN / "initdb").exists() and not shutil.which("pg_config"):
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL server binaries are missing ({PG_BIN}); CI needs them")
        pytest.skip("PostgreSQL server binaries are not installed")
    if not os.environ.get("CI"):
        pytest.importorskip("adbc_driver_postgresql")
