"""The test run: a few records per stream into a scratch database, reported as a checklist.

Each check is PASS, WARN or FAIL with a detail line; the list travels in the `finished` event
so the notebook, the terminal and the container runner all show the same thing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from purelink.runtime.destinations.base import Batch, Destination
from purelink.runtime.formats import apply_formats
from purelink.runtime.http import BadBody, HttpClient, HttpError
from purelink.runtime.lean import httpx
from purelink.runtime.paginators import PageError, dig
from purelink.runtime.records import dedupe, infer_types, select
from purelink.runtime.sources.rest import RestSource, Stream
from purelink.runtime.transfer import SlowBody
from purelink.runtime.validate import first_failure
from purelink.runtime.windows import DEFAULT_START, to_unix

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"


def check(name: str, status: str, detail: str) -> dict:
    return {"name": name, "status": status, "detail": detail}


def sample_checks(source: RestSource, streams: list[Stream], destination: Destination, *,
                  client: HttpClient, pipeline: str, run_id: str, limit: int, emit) -> dict:
    checks: list[dict] = []
    per_stream: dict[str, dict] = {}
    samples: dict[str, list | None] = {}
    auth_failed = unreachable = False
    denied: list[str] = []
    for stream in streams:
        paginator = stream.paginator or source.paginator
        params = dict(stream.params)
        if stream.time_filter is not None and stream.time_filter.template:  # the query needs its bound
            params = stream.time_filter.apply(params, to_unix(stream.start or DEFAULT_START), None)
        request = paginator.first(stream.path, params, page_size=limit)
        try:
            # get_json: an HTML page or a cut-off body is retried as in a full run, then named
            _, body, _ = paginator.fetch(client, request)
        except (BadBody, PageError, SlowBody) as exc:  # PageError: a GraphQL answer with `errors`
            emit("error", stream=stream.name, message=str(exc))
            per_stream[stream.name] = {"records": 0, "status": "failed", "error": str(exc)}
            continue
        except HttpError as exc:
            if exc.status == 401:
                auth_failed = True
                emit("error", stream=stream.name, status=401, message=f"the API rejected the key: {exc.api_message}")
                break
            if exc.status == 403:
                denied.append(stream.name)
                emit("error", stream=stream.name, status=403, message=f"no permission: {exc.api_message}")
                continue
            emit("error", stream=stream.name, status=exc.status, message=str(exc))
            per_stream[stream.name] = {"records": 0, "status": "failed", "error": str(exc)}
            continue
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            unreachable = True
            emit("error", stream=stream.name, message=f"cannot reach {client.base_url}: {type(exc).__name__}")
            break
        path = stream.records_path if stream.records_path is not None else source.records_path
        records = dig(body, path)
        samples[stream.name] = records[:limit] if isinstance(records, list) else None
    if auth_failed:
        checks.append(check("credentials", FAIL, "the API answered 401: the key was rejected"))
    else:
        checks.append(check("credentials", PASS if not unreachable else WARN,
                            "the key was accepted" if not unreachable else "not tried: host unreachable"))
    checks.append(check("connectivity", FAIL if unreachable else PASS,
                        f"cannot reach {client.base_url}" if unreachable else f"reached {client.base_url}"))
    if auth_failed or unreachable:
        return _finish(checks, per_stream, failed=True)
    checks.append(check("permissions", FAIL if denied else PASS,
                        f"no read access to {', '.join(denied)}" if denied else "every stream readable"))
    headers = client.stats.rate_limit_headers
    checks.append(check("rate-limit headers", PASS if headers else WARN,
                        ", ".join(sorted(headers)) if headers else
                        f"none sent; the configured limit of {source.rate_limit or 'no'} requests/s applies"))
    bad_shape = [n for n, r in samples.items() if r is None]
    counts = {n: len(r) for n, r in samples.items() if r is not None}
    checks.append(check("sample records", FAIL if bad_shape else (PASS if any(counts.values()) else WARN),
                        f"no list of records in {', '.join(bad_shape)}" if bad_shape else
                        ", ".join(f"{n}: {c}" for n, c in counts.items())))
    batches, dead_total = [], 0
    for stream in streams:
        records = samples.get(stream.name)
        if not records:
            continue
        rows, dead = [], []
        for record in records:
            reason = first_failure(record, stream.validations)
            (dead.append((reason, record)) if reason else
             rows.append(apply_formats(select(record, stream.columns_with_key), stream.time_columns)[0]))
        dead_total += len(dead)
        missing = [c for c in (stream.columns or []) if all(_dig_path(r, c) is None for r in records)]
        if missing:
            emit("warning", stream=stream.name, message=f"selected columns empty in the sample: {', '.join(missing)}")
        batch = Batch(pipeline=pipeline, stream=stream.name, schema=source.name, table=stream.table or stream.name,
                      primary_key=stream.key, rows=dedupe(rows, stream.key), dead_letters=dead,
                      times=stream.time_columns)
        batches.append(batch)
        per_stream[stream.name] = {"records": len(rows), "dead_letters": len(dead), "status": "success",
                                   "columns": infer_types(rows)}
    checks.append(check("schema compliance", PASS if not dead_total else WARN,
                        "every sampled record passed the validations" if not dead_total else
                        f"{dead_total} sampled record(s) failed a validation"))
    try:
        destination.commit(batches, run_id=run_id, extracted_at=datetime.now(UTC))
        ncols = sum(len(s.get("columns", {})) for s in per_stream.values())
        checks.append(check("type conversion", PASS, f"{ncols} columns typed"))
        stored = destination_counts(destination, source.name, [b.table for b in batches])
        checks.append(check("storage writes", PASS if sum(stored.values()) else FAIL,
                            ", ".join(f"{t}: {n} rows" for t, n in stored.items()) or "nothing written"))
    except Exception as exc:  # noqa: BLE001 - any load failure becomes a FAIL line of the checklist
        checks.append(check("type conversion", FAIL, f"{type(exc).__name__}: {exc}"))
        checks.append(check("storage writes", FAIL, "not written"))
    failed = any(c["status"] == FAIL for c in checks) or any(s["status"] == "failed" for s in per_stream.values())
    result = _finish(checks, per_stream, failed=failed)
    result["samples"] = {n: len(r or []) for n, r in samples.items()}
    return result


def _dig_path(record: dict, path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def destination_counts(destination: Destination, schema: str, tables: list[str]) -> dict[str, int]:
    con = getattr(destination, "con", None)
    if con is None:
        return {}
    out = {}
    for table in tables:
        out[table] = con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0]
    return out


def _finish(checks: list[dict], per_stream: dict, *, failed: bool) -> dict:
    errors = sum(c["status"] == FAIL for c in checks)
    warnings = sum(c["status"] == WARN for c in checks)
    return {"status": "failed" if failed else "success", "checks": checks, "streams": per_stream,
            "records": sum(s.get("records", 0) for s in per_stream.values()),
            "dead_letters": sum(s.get("dead_letters", 0) for s in per_stream.values()),
            "errors": errors, "warnings": warnings,
            "error": next((c["detail"] for c in checks if c["status"] == FAIL), None)}
