"""One request's transfer, bounded in time and stoppable while its body arrives.

httpx's timeout bounds each read, not a request: a server that sends its headers and then a byte
every few seconds kept a request, its stream and the whole run waiting forever, and a stop waited
with it. `send_within` reads the body in the calling thread and looks at the clock and the run's
stop between chunks, so the request ends at its deadline (`PastDeadline`, retried like a timeout)
or at a stop (`Stopped`), its connection closed and no thread left reading.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from purelink.runtime.errors import RuntimeFailure
from purelink.runtime.lean import httpx

#: the recipe's field that sets the deadline, named in the error that says it passed
DEADLINE_FIELD = "requirements.request_deadline_s"


class Stopped(Exception):
    """The run was asked to stop while a request waited (for its turn, a retry or a rate limit) or
    while its body still arrived: the page is dropped unread, and fetched again when the run
    resumes. A stop never waits out a rate limit or a slow body: 'q', Ctrl-C or a caller killed
    outright ends the run in moments."""


class PastDeadline(httpx.ReadTimeout):
    """The body was still arriving when the request's deadline passed (retried like a timeout)."""

    def __init__(self, seconds: float, request: httpx.Request) -> None:
        self.reason = f"the body was still arriving after {seconds:g} s"
        self.seconds = seconds
        super().__init__(self.reason, request=request)


class SlowBody(RuntimeFailure):
    """Every attempt of a request was still receiving its body at the deadline."""

    kind = "api_unreachable"
    url: str | None = None


def slow_body(exc: PastDeadline, attempts: int) -> SlowBody:
    url = str(exc.request.url)
    error = SlowBody(
        f"The API at {url} was still sending its answer after {exc.seconds:g} s, the deadline of a request, "
        f"on each of {attempts} attempts: the request was given up.",
        "The server is stuck or overloaded: run again later (the stream resumes from its last committed page). "
        f"If its answers are really this slow, raise {DEADLINE_FIELD} in the recipe (now {exc.seconds:g} s).")
    error.url = url
    return error


class _Within(httpx.SyncByteStream):
    """A response body that raises at the deadline or at a stop, between chunks as they arrive."""

    def __init__(self, body: Any, end: float, seconds: float, request: httpx.Request,
                 cancel: threading.Event | None) -> None:
        self._body, self._end, self._seconds, self._request, self._cancel = body, end, seconds, request, cancel

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._body:
            if self._cancel is not None and self._cancel.is_set():
                raise Stopped
            if time.monotonic() > self._end:
                raise PastDeadline(self._seconds, self._request)
            yield chunk

    def close(self) -> None:
        self._body.close()


def send_within(client: httpx.Client, request: httpx.Request, seconds: float,
                cancel: threading.Event | None = None) -> httpx.Response:
    """Send `request` and read its whole body within `seconds` of now; raises `PastDeadline` after
    that, `Stopped` once `cancel` is set. The client's read timeout should not pass `seconds`, so a
    server that falls silent is given up by then too."""
    end = time.monotonic() + seconds
    response = client.send(request, stream=True)
    try:
        response.stream = _Within(response.stream, end, seconds, request, cancel)
        response.read()
    except BaseException:
        response.close()  # the connection goes: the rest of a half-read body must not be taken for the next answer
        raise
    return response
