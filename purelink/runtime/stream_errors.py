"""What the API did that stopped a stream, in the user's words: a bad body, a page that could not
be continued, an HTTP error status. Every other failure is described by
`purelink.runtime.causes.cause_of`; the extraction puts this wording on top of that structured
cause, so the `error` event, the finished event, the CLI and the executions row carry one cause.
"""

from __future__ import annotations

from purelink.runtime.http import BadBody, HttpError
from purelink.runtime.paginators import PageError


def describe_failure(exc: BadBody | PageError | HttpError, stream: str,
                     secrets: tuple[str, ...] = (), resumed: bool = False) -> tuple[str, str]:
    """(message, guidance) for what the API did that stopped `stream`; every other failure is
    described by `purelink.runtime.causes.cause_of`. `resumed`: the request refused was the one an
    earlier run stopped at."""
    if isinstance(exc, BadBody):
        message = (f"{stream}: the API answered HTTP {exc.status} from {exc.url} with a body that is not "
                   f"JSON, even after retries: {exc.api_message}")
        guidance = ("A proxy or gateway in front of the API may be answering instead of it; check the base "
                    "URL and the network, then run again: the stream resumes from its last committed page.")
    elif isinstance(exc, PageError):
        message = f"{stream}: a page could not be continued: {exc}"
        guidance = ("The page is kept in _purelink.dead_letters with its URL. Check the stream's pagination "
                    "settings (cursor field, records path) against what the API returns.")
    else:
        message, guidance = describe_http_error(exc, stream), http_guidance(exc, secrets)
        if resumed and 400 <= exc.status < 500 and exc.status not in (401, 403, 429):
            guidance = ("The API refused the request the last run stopped at: a saved position can expire, or "
                        "name a record deleted since, so resuming cannot get past it. Run the recipe with "
                        "--full-refresh to read the stream from the start (its table keeps its rows until the "
                        "refresh has read everything).")
    return message, guidance


def describe_http_error(exc: HttpError, stream: str) -> str:
    if exc.status == 401:
        return f"The API rejected the key ({exc.api_message}). Check the key, or store a new one."
    if exc.status == 403:
        return (f"The key has no permission to read {stream} ({exc.api_message}). "
                f"Use a key with read access to {stream}, or drop the stream from the recipe.")
    if exc.status == 404:
        return f"{exc.url} does not exist (404). Check the base URL and the stream's path."
    return f"HTTP {exc.status} from {exc.url}: {exc.api_message}"


def http_guidance(exc: HttpError, secrets: tuple[str, ...] = ()) -> str:
    """What to do next; `secrets` are the names the source's key is read under, so a 401 says which
    environment variable or vault entry to fix rather than a placeholder."""
    if exc.status == 401:
        if not secrets:
            return "Store a valid key (purelink secrets set NAME) and run again."
        names = " and ".join(secrets)
        return (f"The key is read from {names}: the environment variable of that name first, then the vault. "
                f"Put a valid key there (`export {secrets[0]}=...` or `purelink secrets set {secrets[0]}`) "
                "and run again.")
    if exc.status == 403:
        return "Use a key with read access to this stream, or drop the stream from the recipe."
    if exc.status == 404:
        return "Check the base URL and the stream's path in the connector spec."
    if exc.status == 429:
        return ("The API kept refusing requests for longer than the retry budget: run again later, lower the "
                "recipe's rate_limit, or raise its retry_budget_s.")
    return "Run again: the stream resumes from its last committed page. If it persists, ask the API's provider."
