"""A local stand-in for the Gemini REST API: `POST /{version}/models/{model}:generateContent`.

The real `google-genai` client is pointed at it (`GOOGLE_GEMINI_BASE_URL`). Each request takes the
next scripted answer: a JSON answer, malformed JSON, an HTTP error (429, 500, a rejected key), a
safety block. Every request is kept, so a test can assert on what the client sent.

    with FakeGemini() as fake:
        fake.answer({"source": "stripe"})
        fake.error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted", retry_delay="0.01s")
        ...
        fake.requests[0].prompt, fake.requests[0].schema, fake.requests[0].model
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

ROUTE = re.compile(r"^/(v1|v1beta|v1alpha)/models/([^/:]+):generateContent$")


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict

    @property
    def model(self) -> str:
        found = ROUTE.match(self.path)
        return found.group(2) if found else ""

    @property
    def prompt(self) -> str:
        return "\n".join(p.get("text", "") for c in self.body.get("contents", []) for p in c.get("parts", []))

    @property
    def system(self) -> str:
        parts = (self.body.get("systemInstruction") or self.body.get("system_instruction") or {}).get("parts", [])
        return "\n".join(p.get("text", "") for p in parts)

    @property
    def config(self) -> dict:
        return self.body.get("generationConfig") or {}

    @property
    def schema(self) -> dict:
        return self.config.get("responseSchema") or {}


def _candidate(text: str | None, finish: str = "STOP") -> dict:
    content = {"parts": [{"text": text}], "role": "model"} if text is not None else {"parts": [], "role": "model"}
    return {"content": content, "finishReason": finish, "index": 0}


class FakeGemini:
    """Scripted answers over real HTTP on 127.0.0.1; see the module docstring."""

    def __init__(self, *, api_key: str = "AIzaFakeGeminiKeyForTests0123456789abc") -> None:
        self.api_key = api_key
        self.script: deque[tuple[int, dict, float]] = deque()
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, payload, delay = fake._take(self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                if delay:
                    time.sleep(delay)
                body = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- scripting --------------------------------------------------------------------------------
    def answer(self, payload: Any, *, delay: float = 0) -> None:
        """A 200 whose text is `payload` as JSON (a dict, or a pydantic model)."""
        data = payload.model_dump(mode="json") if hasattr(payload, "model_dump") else payload
        self.text(json.dumps(data), delay=delay)

    def text(self, text: str, *, delay: float = 0) -> None:
        """A 200 with this exact text: malformed JSON is scripted this way."""
        self.script.append((200, {"candidates": [_candidate(text)], "modelVersion": "fake",
                                  "usageMetadata": {"promptTokenCount": 10, "totalTokenCount": 20}}, delay))

    def error(self, code: int, status: str, message: str, *, retry_delay: str | None = None,
              reason: str | None = None) -> None:
        details = []
        if retry_delay:
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
        if reason:
            details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                            "domain": "googleapis.com"})
        error = {"code": code, "message": message, "status": status, **({"details": details} if details else {})}
        self.script.append((code, {"error": error}, 0))

    def blocked(self, reason: str = "SAFETY") -> None:
        """The prompt is blocked: no candidates, `promptFeedback.blockReason`."""
        self.script.append((200, {"promptFeedback": {"blockReason": reason, "safetyRatings": [
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]}}, 0))

    def stopped_for_safety(self) -> None:
        """A candidate cut off with `finishReason: SAFETY` and no text."""
        self.script.append((200, {"candidates": [_candidate(None, "SAFETY")]}, 0))

    # -- serving ----------------------------------------------------------------------------------
    def _take(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict, float]:
        with self._lock:
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            self.requests.append(Received(path, headers, body))
            if not ROUTE.match(path):
                return 404, {"error": {"code": 404, "message": f"fake: no route {path}", "status": "NOT_FOUND"}}, 0
            if headers.get("x-goog-api-key") != self.api_key:
                return 400, {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                                       "status": "INVALID_ARGUMENT", "details": [
                                           {"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                            "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}}, 0
            if not self.script:
                return 400, {"error": {"code": 400, "message": "fake: no scripted answer left",
                                       "status": "FAILED_PRECONDITION"}}, 0
            return self.script.popleft()

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
