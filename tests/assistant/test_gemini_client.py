"""The real google-genai client against the fake Gemini REST API: structured output, bounded
retries (429, 500, timeouts, malformed JSON), and one plain sentence for quota, key and safety."""

from __future__ import annotations

import pytest

from purelink.assistant import (
    AnswerBlocked,
    AssistantUnavailable,
    KeyRejected,
    QuotaExceeded,
    get_assistant,
)
from purelink.catalog.spec import catalog

GOOD = {"source": "stripe", "streams": ["customers"], "frequency": "daily", "history_start": "2025-01-01"}


def ask(**options):
    assistant = get_assistant(backoff_s=0.01, **options)
    return assistant.intent("stripe customers since January, daily", sources=list(catalog().values()))


def test_a_429_a_500_and_malformed_json_are_retried_then_answered(fake_gemini):
    fake_gemini.error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).",
                      retry_delay="0.01s")
    fake_gemini.error(500, "INTERNAL", "An internal error has occurred.")
    fake_gemini.text('{"source": "stripe", "streams": ["customers"')  # cut off
    fake_gemini.text('{"source": "stripe", "history_start": "since January"}')  # JSON, but not the schema's
    fake_gemini.answer(GOOD)
    intent = ask(attempts=5)
    assert (intent.source, intent.frequency, intent.history_start) == ("stripe", "daily", "2025-01-01")
    sent = fake_gemini.requests
    assert len(sent) == 5 and all(r.headers["x-goog-api-key"] == fake_gemini.api_key for r in sent)
    assert "not valid JSON for the schema" not in sent[2].prompt
    assert "not valid JSON for the schema" in sent[3].prompt and "history_start" in sent[4].prompt


def test_quota_is_one_sentence_after_bounded_retries(fake_gemini):
    for _ in range(4):
        fake_gemini.error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.", retry_delay="0.01s")
    fake_gemini.answer(GOOD)  # never reached
    with pytest.raises(QuotaExceeded) as caught:
        ask(attempts=4)
    assert len(fake_gemini.requests) == 4
    err = caught.value
    assert "quota is used up (429 RESOURCE_EXHAUSTED" in err.message and "offline assistant" in err.guidance
    assert fake_gemini.api_key not in str(err)


def test_server_errors_and_malformed_answers_run_out(fake_gemini):
    for _ in range(3):
        fake_gemini.error(503, "UNAVAILABLE", "The model is overloaded.")
    with pytest.raises(AssistantUnavailable, match="failed on its side"):
        ask(attempts=3)
    for _ in range(2):
        fake_gemini.text("Sure! Here is the JSON you asked for.")
    with pytest.raises(AssistantUnavailable, match="not valid for the expected form"):
        ask(attempts=2)


def test_a_rejected_key_is_not_retried_and_not_shown(fake_gemini, monkeypatch):
    wrong = "AIzaWrongWrongWrongWrongWrong0123456789"
    monkeypatch.setenv("GEMINI_API_KEY", wrong)
    with pytest.raises(KeyRejected) as caught:
        ask()
    assert len(fake_gemini.requests) == 1
    assert "refused the key in GEMINI_API_KEY" in caught.value.message and "API key not valid" in caught.value.message
    assert wrong not in str(caught.value) and "aistudio.google.com/apikey" in caught.value.guidance


@pytest.mark.parametrize("script, words", [("blocked", "blocked (SAFETY)"), ("stopped_for_safety", "for SAFETY")])
def test_safety_blocks_are_said_plainly(fake_gemini, script, words):
    getattr(fake_gemini, script)()
    with pytest.raises(AnswerBlocked) as caught:
        ask()
    assert words in caught.value.message and "Rephrase" in caught.value.guidance
    assert len(fake_gemini.requests) == 1


def test_a_slow_answer_times_out_and_is_retried(fake_gemini):
    fake_gemini.answer(GOOD, delay=3)
    fake_gemini.answer(GOOD)
    assert ask(timeout_s=1, attempts=2).source == "stripe"
    assert len(fake_gemini.requests) == 2
    fake_gemini.answer(GOOD, delay=3)
    with pytest.raises(AssistantUnavailable, match="no answer within 1 s"):
        ask(timeout_s=1, attempts=1)


def test_the_base_url_setting_is_what_the_client_uses(fake_gemini, monkeypatch):
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(AssistantUnavailable, match="did not answer"):
        ask(attempts=1)
    assert fake_gemini.requests == []
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake_gemini.url)
    fake_gemini.answer(GOOD)
    assert ask().source == "stripe" and fake_gemini.requests[0].path.endswith("/models/gemini-2.5-flash:generateContent")


def test_model_output_is_never_run_and_only_the_maintained_sdk_is_used():
    import ast
    from pathlib import Path

    import purelink.assistant

    folder = Path(purelink.assistant.__file__).parent
    for path in folder.glob("*.py"):
        source = path.read_text()
        called = {n.func.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call)
                  and isinstance(n.func, ast.Name)}
        assert not called & {"eval", "exec", "compile", "__import__"}, path.name
        assert "generativeai" not in source, path.name
