"""Fixtures for the assistant: the fake Gemini REST API, the sandbox (Acme included), a workspace.

By default no Gemini key is set, so the offline assistant answers; `fake_gemini` sets
GEMINI_API_KEY and GOOGLE_GEMINI_BASE_URL so `get_assistant()` builds the real google-genai client
pointed at the fake.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from purelink.sandbox import serve

_spec = importlib.util.spec_from_file_location("purelink_tests_fake_gemini", Path(__file__).with_name("fake_gemini.py"))
fake_gemini_module = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fake_gemini_module)
FakeGemini = fake_gemini_module.FakeGemini


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No Gemini settings, a private vault and home, no workspace from the environment."""
    for var in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL", "PURELINK_GEMINI_MODEL",
                "PURELINK_WORKSPACE", "ACME_TICKETS_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PURELINK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PURELINK_VAULT_KEYRING", "0")


@pytest.fixture
def fake_gemini(monkeypatch):
    with FakeGemini() as fake:
        monkeypatch.setenv("GEMINI_API_KEY", fake.api_key)
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
        yield fake


@pytest.fixture(scope="module")
def sandbox():
    with serve(seed=0, customers=150) as running:
        yield running


@pytest.fixture
def acme(sandbox) -> dict:
    """Where the Acme Tickets API is and a key it accepts (from the sandbox's own listing)."""
    return sandbox.sources()["acme"]


@pytest.fixture
def workspace(tmp_path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path
