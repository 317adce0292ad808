"""The Gemini assistant, on the maintained `google-genai` SDK.

    assistant = GeminiAssistant(api_key=os.environ["GEMINI_API_KEY"])      # model: gemini-2.5-flash
    assistant.intent("stripe customers since January, daily", sources=[...])

Every call asks for JSON (`response_mime_type="application/json"` with the pydantic model as
`response_schema`) and validates the text again with pydantic. A 429, a 5xx, a timeout or an
answer that is not valid JSON for the schema is retried a bounded number of times (a malformed
answer is asked again with the validation error); a rejected key, a used-up quota and a blocked
answer end in one plain sentence with what to do. `GOOGLE_GEMINI_BASE_URL` points the client
elsewhere (recent SDKs read it themselves; it is also passed explicitly for older ones).
"""

from __future__ import annotations

import importlib
import os
import random
import re
import time
from datetime import date
from typing import TypeVar

from google import genai
from google.genai import errors, types
from pydantic import BaseModel, ValidationError

from purelink.assistant import DEFAULT_MODEL, prompts
from purelink.assistant.models import (
    AnswerBlocked,
    AssistantError,
    AssistantUnavailable,
    ColumnAdvice,
    ColumnAdviceDraft,
    ConnectorProposal,
    FailureDraft,
    FailureExplanation,
    Intent,
    IntentDraft,
    KeyRejected,
    QuotaExceeded,
    Round,
    SourceRequest,
)
from purelink.catalog.spec import ConnectorSpec
from purelink.recipes import Recipe
from purelink.secrets.redact import redact, register

T = TypeVar("T", bound=BaseModel)
WITHOUT_GEMINI = "Or unset GEMINI_API_KEY to use the offline assistant."


class GeminiAssistant:
    """Answers through Gemini; see the module docstring for retries and errors."""

    def __init__(self, *, api_key: str, model: str | None = None, base_url: str | None = None,
                 timeout_s: float = 60.0, attempts: int = 4, backoff_s: float = 1.0,
                 max_wait_s: float = 30.0) -> None:
        register(api_key)  # never shown in an error, a log line or a prompt
        self.model = model or DEFAULT_MODEL
        self.name = f"Gemini ({self.model})"
        self.attempts, self.backoff_s, self.max_wait_s = max(1, attempts), backoff_s, max_wait_s
        self.timeout_s = timeout_s
        base_url = base_url or os.environ.get("GOOGLE_GEMINI_BASE_URL")
        # The SDK's own retries stay off (retry_options unset): this class decides, so that a
        # malformed answer is retried too and the attempts are counted in one place.
        options = types.HttpOptions(timeout=int(timeout_s * 1000), **({"base_url": base_url} if base_url else {}))
        self._client = genai.Client(api_key=api_key, http_options=options)

    # -- the four tasks ---------------------------------------------------------------------------
    def intent(self, text: str, *, sources: list[ConnectorSpec], today: date | None = None) -> Intent:
        draft = self.ask(prompts.intent_prompt(text, sources, today or date.today()), IntentDraft)
        return Intent(**draft.model_dump(), answered_by=self.name)

    def propose_connector(self, request: SourceRequest, rounds: list[Round], explorer=None) -> ConnectorProposal:
        return self.ask(prompts.connector_prompt(request, rounds), ConnectorProposal)

    def describe_columns(self, spec: ConnectorSpec, stream: str, columns) -> ColumnAdvice:
        draft = self.ask(prompts.columns_prompt(spec, stream, columns), ColumnAdviceDraft)
        known = {c.path for c in columns}
        notes = [n for n in draft.columns if n.path in known]  # a made-up column is dropped, not trusted
        return ColumnAdvice(columns=notes, stream=stream, answered_by=self.name)

    def explain_failure(self, recipe: Recipe, finished: dict) -> FailureExplanation:
        draft = self.ask(prompts.failure_prompt(recipe, finished), FailureDraft)
        return FailureExplanation(**draft.model_dump(), answered_by=self.name)

    # -- one structured question ------------------------------------------------------------------
    def ask(self, prompt: str, schema: type[T]) -> T:
        """Send `prompt`, get an instance of `schema`, with the bounded retries described above."""
        config = types.GenerateContentConfig(
            system_instruction=prompts.SYSTEM, response_mime_type="application/json", response_schema=schema,
            temperature=0.2)
        contents, last = prompt, None
        for attempt in range(1, self.attempts + 1):
            try:
                response = self._client.models.generate_content(model=self.model, contents=contents, config=config)
            except errors.APIError as exc:
                last = self._api_problem(exc)
                wait = _retry_delay(exc)
            except _TRANSPORT as exc:  # timeouts, refused connections
                last = AssistantUnavailable(
                    f"Gemini did not answer ({_transport(exc, self.timeout_s)}).",
                    f"Check the network or GOOGLE_GEMINI_BASE_URL and try again. {WITHOUT_GEMINI}")
                wait = None
            else:
                _raise_if_blocked(response)
                text = _strip_fences(response.text or "")
                try:
                    return schema.model_validate_json(text)
                except ValidationError as exc:
                    problem = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}"
                                        for e in exc.errors()[:3])
                    last = AssistantUnavailable(f"Gemini's answer was not valid for the expected form ({problem}).",
                                                f"Try again. {WITHOUT_GEMINI}")
                    contents = (f"{prompt}\n\nYour previous answer was not valid JSON for the schema "
                                f"({problem}). Answer again with JSON only.")
                    continue  # asked again at once: the model, not the service, needs another go
            if attempt < self.attempts:
                time.sleep(self._delay(attempt, wait))
        assert last is not None
        raise last

    def _delay(self, attempt: int, hinted: float | None) -> float:
        if hinted is not None:
            return min(hinted, self.max_wait_s)
        return random.uniform(0.5, 1.0) * min(self.max_wait_s, self.backoff_s * 2 ** (attempt - 1))

    def _api_problem(self, exc) -> AssistantError:
        """The retryable problem (429, 5xx) to report if retries run out; raises at once otherwise."""
        code, status, message = exc.code, exc.status or "", redact((exc.message or "").strip())
        if code == 429:
            return QuotaExceeded(
                f"Gemini's quota is used up (429 {status or 'RESOURCE_EXHAUSTED'}: {message}).",
                "Wait a minute and try again, or check the limits of your plan at "
                f"https://ai.google.dev/gemini-api/docs/rate-limits. {WITHOUT_GEMINI}")
        if code >= 500:
            return AssistantUnavailable(f"Gemini failed on its side ({code} {status}: {message}).",
                                        f"Try again in a moment. {WITHOUT_GEMINI}")
        if code in (401, 403) or "API key" in message or "API_KEY" in str(getattr(exc, "details", "")):
            raise KeyRejected(f"Gemini refused the key in GEMINI_API_KEY ({code} {status}: {message}).",
                              "Create a key at https://aistudio.google.com/apikey and set GEMINI_API_KEY to it. "
                              + WITHOUT_GEMINI) from None
        if code == 404:
            raise AssistantError(f"Gemini has no model {self.model!r} ({message}).",
                                 "Set PURELINK_GEMINI_MODEL to a model your key can use, e.g. "
                                 f"{DEFAULT_MODEL}.") from None
        raise AssistantError(f"Gemini rejected the request ({code} {status}: {message}).",
                             f"Report it if it persists. {WITHOUT_GEMINI}") from None


def _transport_errors() -> tuple[type[BaseException], ...]:
    """The SDK sends with httpx or its fork httpx2, whichever it picked: catch both's failures."""
    found: list[type[BaseException]] = [OSError]
    for module in ("httpx", "httpx2"):
        try:
            found.append(importlib.import_module(module).TransportError)
        except (ImportError, AttributeError):
            pass
    return tuple(found)


_TRANSPORT = _transport_errors()


def _retry_delay(exc) -> float | None:
    """Seconds from Gemini's RetryInfo (`"retryDelay": "7s"`) or a Retry-After header, if given."""
    details = str(getattr(exc, "details", ""))
    found = re.search(r"""['"]retryDelay['"]: ['"]([0-9.]+)s['"]""", details)
    if found:
        return float(found.group(1))
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    after = headers.get("retry-after") if hasattr(headers, "get") else None
    try:
        return float(after) if after else None
    except ValueError:
        return None


def _raise_if_blocked(response) -> None:
    feedback = getattr(response, "prompt_feedback", None)
    reason = getattr(feedback, "block_reason", None)
    if reason:
        raise AnswerBlocked(f"Gemini declined to answer: the request was blocked ({_name(reason)}).",
                            f"Rephrase it without the part that may have triggered the filter. {WITHOUT_GEMINI}")
    candidates = getattr(response, "candidates", None) or []
    finish = getattr(candidates[0], "finish_reason", None) if candidates else None
    if _name(finish) in ("SAFETY", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "RECITATION"):
        raise AnswerBlocked(f"Gemini stopped its answer for {_name(finish)}.",
                            f"Rephrase the request and try again. {WITHOUT_GEMINI}")


def _name(value) -> str:
    return str(getattr(value, "value", value) or "")


def _strip_fences(text: str) -> str:
    text = text.strip()
    if text.startswith("```"):
        text = re.sub(r"^```[a-zA-Z]*\s*|\s*```$", "", text)
    return text


def _transport(exc: Exception, timeout_s: float) -> str:
    if "timeout" in type(exc).__name__.lower():
        return f"no answer within {timeout_s:g} s"
    return f"{type(exc).__name__}: {exc}"[:200]
