"""The sandbox API over HTTP, a fresh workspace, and a private vault for the discovery tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from purelink.sandbox import serve

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def sandbox():
    with serve(seed=0, customers=150) as running:
        yield running


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    """Vault and per-user state in a temporary folder; no OS keyring; no Stripe key in the environment."""
    monkeypatch.setenv("PURELINK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PURELINK_VAULT_KEYRING", "0")
    for var in ("STRIPE_API_KEY", "PURELINK_WORKSPACE", "PURELINK_BASE_URL", "SANDBOX_PAYMENTS_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "home"


@pytest.fixture
def workspace(tmp_path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


@pytest.fixture
def openapi_doc() -> Path:
    return FIXTURES / "sandbox_openapi.yaml"
