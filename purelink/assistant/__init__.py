"""The assistant: Gemini when `GEMINI_API_KEY` is set, offline rules otherwise; the same answers.

    assistant = get_assistant()              # assistant.name: "Gemini (gemini-2.5-flash)" or "offline rules"
    assistant.intent("stripe customers since January, daily", sources=specs)
    discover(SourceRequest(name="Acme Tickets", base_url=url), key)     # propose, probe, correct
    assistant.describe_columns(spec, "tickets", probe.columns)          # descriptions and PII flags
    assistant.explain_failure(recipe, finished)                         # plain words + a recipe change

Every answer is pydantic-validated data carrying `answered_by`; nothing a model writes is ever
executed, and generated modules still come only from `purelink.pipeline.codegen`'s templates. To apply
answers to a wizard `Session`, see `purelink.assistant.prefill`.

Settings: `GEMINI_API_KEY` (on/off), `PURELINK_GEMINI_MODEL` (default gemini-2.5-flash),
`GOOGLE_GEMINI_BASE_URL` (another endpoint, e.g. a proxy or a test server).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from typing import Protocol

from purelink.assistant.models import (
    AnswerBlocked,
    AssistantError,
    AssistantUnavailable,
    ColumnAdvice,
    ConnectorProposal,
    Discovery,
    FailureExplanation,
    Intent,
    KeyRejected,
    QuotaExceeded,
    RecipeChange,
    Round,
    SourceRequest,
)
from purelink.assistant.offline import OfflineAssistant
from purelink.assistant.repair import discover, probe_connector
from purelink.catalog.spec import ConnectorSpec
from purelink.recipes import Recipe

DEFAULT_MODEL = "gemini-2.5-flash"

__all__ = [
    "DEFAULT_MODEL", "AnswerBlocked", "Assistant", "AssistantError", "AssistantUnavailable", "ColumnAdvice",
    "ConnectorProposal", "Discovery", "FailureExplanation", "Intent", "KeyRejected", "OfflineAssistant",
    "QuotaExceeded", "RecipeChange", "Round", "SourceRequest", "discover", "get_assistant", "probe_connector",
]


class Assistant(Protocol):
    """What both assistants answer. `name` says which one it is, as the user sees it."""

    name: str

    def intent(self, text: str, *, sources: list[ConnectorSpec], today: date | None = None) -> Intent: ...

    def propose_connector(self, request: SourceRequest, rounds: list[Round],
                          explorer) -> ConnectorProposal | None: ...

    def describe_columns(self, spec: ConnectorSpec, stream: str, columns) -> ColumnAdvice: ...

    def explain_failure(self, recipe: Recipe, finished: dict) -> FailureExplanation: ...


def get_assistant(*, model: str | None = None, environ: Mapping[str, str] | None = None,
                  **options) -> Assistant:
    """Gemini when `GEMINI_API_KEY` is set (and google-genai is installed), else the offline rules.

    `options` go to `GeminiAssistant` (timeout_s, attempts, backoff_s). When a key is set but the
    SDK is missing, the offline assistant answers and its `note` says why.
    """
    env = os.environ if environ is None else environ
    key = (env.get("GEMINI_API_KEY") or "").strip()
    if not key:
        return OfflineAssistant()
    try:
        from purelink.assistant.gemini import GeminiAssistant
    except ImportError:
        return OfflineAssistant(note="GEMINI_API_KEY is set but google-genai is not installed "
                                     "(pip install google-genai): the offline assistant answers instead.")
    return GeminiAssistant(api_key=key, model=model or env.get("PURELINK_GEMINI_MODEL") or DEFAULT_MODEL,
                           base_url=env.get("GOOGLE_GEMINI_BASE_URL") or None, **options)
