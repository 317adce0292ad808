"""What made a run or a stream fail, as data: `{kind, message, guidance, url, stream}`.

The `finished` event, the `error` events, the executions row and the assistant's explainer all
read this one structure, so nobody has to parse message text to learn what went wrong. Kinds:

- `api_unreachable`  the API cannot be reached or stopped answering (refused, reset, timed out)
- `api_error`        the API answered with an error status
- `source_database`  the source database failed or went away while being read
- `destination`      the destination (DuckDB or the warehouse) refused a statement
- `validation`       more records failed the recipe's checks than it allows (`rejected`, `total`)
- `runtime`          a failure the runtime diagnosed itself (RuntimeFailure: bad key, busy file...)
- `internal`         anything else: a defect, reported with its type so it can be filed
"""

from __future__ import annotations

from typing import Any

from purelink.runtime.auth import mask
from purelink.runtime.errors import RuntimeFailure
from purelink.runtime.net import as_written

RESUME = "A re-run resumes after the last committed batch: nothing committed is loaded twice."


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return mask(text.splitlines()[0] if text else type(exc).__name__)


def cause(kind: str, message: str, guidance: str = "", *, url: str | None = None,
          stream: str | None = None) -> dict[str, Any]:
    # Addresses as the recipe wrote them (a container reaches this machine by another name).
    out: dict[str, Any] = {"kind": kind, "message": as_written(mask(message)), "guidance": as_written(mask(guidance))}
    if url:
        out["url"] = as_written(mask(url))
    if stream:
        out["stream"] = stream
    return out


def cause_of(exc: BaseException, *, stream: str | None = None, source: str | None = None) -> dict[str, Any]:
    """The structured cause of an exception raised inside a run.

    `source` names the database being read (`user@host:port/db`), so an I/O error from its
    driver can say which server went away."""
    where = f" while loading {stream}" if stream else ""
    if isinstance(exc, RuntimeFailure):
        return cause(getattr(exc, "kind", None) or "runtime", exc.message, exc.guidance,
                     url=getattr(exc, "url", None), stream=stream)
    status = getattr(exc, "status", None)
    if isinstance(status, int) and hasattr(exc, "api_message"):  # the runtime's HttpError
        url = getattr(exc, "url", "")
        found = cause("api_error", f"HTTP {status} from {url}{where}: {getattr(exc, 'api_message', '')}",
                      "Check the URL and the key; a 5xx that persists is the API's own failure: re-run "
                      "later.", url=url, stream=stream)
        found["status"] = status
        return found
    module = type(exc).__module__ or ""
    if module.startswith(("httpx", "httpcore")):
        from purelink.runtime.http import CONNECT_ERRORS, origin  # httpx is loaded: it raised this

        url = _request_url(exc)
        # The server's address, not the request's URL with its encoded query (the `url` keeps that);
        # a refused connection is said as such: a wrong port never answered at all.
        api = origin(url) if url else "the source"
        what = (f"Cannot connect to the API at {api}{where}" if isinstance(exc, CONNECT_ERRORS)
                else f"The API at {api} stopped answering{where}")
        return cause("api_unreachable", f"{what} ({type(exc).__name__}: {first_line(exc)}).",
                     "Check that the API is up and reachable from where the pipeline runs (a sandbox "
                     "must still be running), then re-run.", url=url, stream=stream)
    if module.startswith(("duckdb", "_duckdb")):
        return cause("destination", f"DuckDB refused a statement{where}: {first_line(exc)}",
                     _duckdb_guidance(str(exc)), stream=stream)
    if source is not None and (isinstance(exc, OSError) or module.startswith("adbc")):
        return cause("source_database",
                     f"Lost the PostgreSQL source {source}{where}: {first_line(exc)}",
                     "Check that the database server is running and accepts connections from this "
                     "machine, then re-run.", stream=stream)
    return cause("internal", f"{type(exc).__name__}{where}: {first_line(exc)}",
                 "This is a defect in purelink, not in your data or settings: re-run once, and if it "
                 "happens again report it with the event log (logs/execution_*.log).",
                 stream=stream)


def _request_url(exc: BaseException) -> str | None:
    try:
        return str(exc.request.url)  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):  # httpx raises RuntimeError when no request is attached
        return None


def _duckdb_guidance(text: str) -> str:
    if "Ambiguous reference to catalog or schema" in text:
        return ("The DuckDB file is named like one of its schemas (data/stripe.duckdb holds schema "
                "stripe). Give the file another name in the recipe's destination.path, or re-run "
                "with --db data/NAME.duckdb.")
    if "could not be found" in text or "does not exist" in text or "is not a" in text:
        return ("The destination table is not what purelink created (renamed, replaced by a view or "
                "altered by hand). Restore it, or re-run with --full-refresh to recreate it.")
    return ("The destination database refused the load. Check the table in `purelink inspect`; "
            "re-run with --full-refresh to recreate it if it was changed by hand.")


def committed_text(finished: dict) -> str:
    """What a run that did not succeed has committed, and what a re-run does (after "committed:"):
    "700 records before it failed (customers 700). A re-run resumes ...". Rows of a refresh that did
    not finish are said apart: they wait in a staging table, not in the table."""
    streams = finished.get("streams") or {}
    parts = [f"{name} {s.get('committed', s.get('records', 0)):,}" for name, s in streams.items()]
    total = finished.get("committed", finished.get("records", 0)) or 0
    detail = f" ({', '.join(parts)})" if parts else ""
    ended = "stopped" if finished.get("status") == "stopped" else "failed"
    staged = {name: s["staged"] for name, s in streams.items() if s.get("staged")}
    waiting = (f"; {sum(staged.values()):,} more wait in a staging table ({', '.join(staged)}): the table keeps "
               "its old rows until a run completes the refresh") if staged else ""
    return f"{total:,} records before it {ended}{detail}{waiting}. {RESUME}"
