"""Fixtures shared by every test folder: the sandbox API over real HTTP."""

from __future__ import annotations

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
