"""The completion summary of a run, as a person reads it: status, records per stream, where the
data is, and for a run that did not succeed its cause and what to do.

It lives in the runtime because a module run by hand in a terminal prints it itself; the
`purelink` command, the wizard and the notebook's text monitor print the same text from the
`finished` event they receive (`purelink.execution.console` re-exports it).
"""

from __future__ import annotations

from purelink.runtime.causes import committed_text

__all__ = ["cause_lines", "human_bytes", "stopped_lines", "summary_text"]


MODES = {"incremental": "incremental", "full_refresh": "full refresh", "sample": "a sample"}


def mode_words(started: dict) -> str:
    """How a run reads its source, from its `started` event, as every header says it: "full
    refresh", or "incremental, continuing the full refresh of customers" for a plain run that goes
    on with a refresh an earlier run left unfinished."""
    mode = started.get("mode") or ""
    words = MODES.get(mode, mode or "run")
    if started.get("continuing"):
        words += f", continuing the full refresh of {', '.join(started['continuing'])}"
    return words


def human_bytes(n: float | None) -> str:
    n = float(n or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def summary_text(finished: dict, resume_hint: str | None = None) -> str:
    """The completion summary a person reads; `resume_hint` is the command that resumes a stopped run."""
    status = finished.get("status", "failed")
    lines = [f"status:      {finished.get('outcome') or status}"]
    streams = finished.get("streams") or {}
    total = finished.get("records", 0)
    dead = finished.get("dead_letters", 0)
    # A share of nothing is no figure: "0 loaded (100.0% passed validation)" read as a claim.
    rate = f" ({100.0 * total / (total + dead):.1f}% passed validation)" if total + dead else ""
    if not total + dead and status == "success" and finished.get("mode") == "incremental":
        rate = " (nothing new at the source)"
    # Rows of a refresh that did not finish wait in a staging table: read, but not in the table.
    staged = sum(s.get("staged") or 0 for s in streams.values())
    loaded = f"{total - staged:,} loaded, {staged:,} staged" if staged else f"{total:,} loaded"
    lines.append(f"records:     {loaded}, {dead:,} rejected{rate}")
    for name, s in streams.items():
        extra = f" - {s['error']}" if s.get("error") and not s.get("cause") else ""
        if s.get("staged"):
            extra += f" ({s['staged']:,} staged: its table keeps its old rows until the refresh completes)"
        elif s.get("refresh") == "continued" and s.get("status") == "success":
            extra += (" (the full refresh an earlier run began is complete: the rows that run staged and these "
                      "replaced the table's old rows)")
        lines.append(f"  {name:<18} {s.get('records', 0):>9,}  {s.get('status', '')}{extra}")
    duration = finished.get("duration_s") or 0
    lines.append(f"duration:    {duration:.1f} s"
                 + (f" ({total / duration:,.0f} records/s)" if duration and total else ""))
    # No count at all: a database source, or a run that ended before it made an HTTP client.
    if "requests" in finished and not finished["requests"] and finished.get("retries"):  # none answered
        lines.append(f"requests:    none answered ({finished['retries']:,} retries got no answer either)")
    elif "requests" in finished:
        lines.append(f"requests:    {finished['requests']:,} ({finished.get('retries', 0):,} retried, "
                     f"{finished.get('throttled', 0):,} rate-limited)")
    lines.append(f"storage:     {finished.get('destination', '')} ({human_bytes(finished.get('storage_bytes'))})")
    if finished.get("warnings"):
        lines.append(f"warnings:    {finished['warnings']}")
    for name, s in streams.items():
        if s.get("dead_letters") and s.get("rejected_query"):
            lines.append(f"rejected:    {s['dead_letters']:,} {name} rows; see them with")
            lines.append(f"             purelink inspect --query \"{s['rejected_query']}\"")
    if finished.get("checks"):
        lines.append("checks:")
        for c in finished["checks"]:
            lines.append(f"  [{c['status']}] {c['name']}: {c['detail']}")
    if status == "stopped":
        lines.extend(stopped_lines(finished, resume_hint))
    elif status != "success":
        lines.extend(cause_lines(finished))
    return "\n".join(lines)


def stopped_lines(finished: dict, resume_hint: str | None = None) -> list[str]:
    """A stop the user asked for: who stopped it, what is kept, how to go on."""
    lines = ["stopped:     at your request, not by an error; the state is saved"]
    lines.append(f"committed:   {committed_text(finished)}")
    if resume_hint:
        lines.append(f"resume:      {resume_hint}")
    return lines


def cause_lines(finished: dict) -> list[str]:
    """Each distinct cause once, with its URL, what to do, and what the run committed."""
    causes = [s["cause"] for s in (finished.get("streams") or {}).values() if s.get("cause")]
    if finished.get("cause") and finished["cause"] not in causes:
        causes.insert(0, finished["cause"])
    lines: list[str] = []
    seen: set[str] = set()
    for c in causes:
        text = c.get("message", "")
        if text in seen:
            continue
        seen.add(text)
        lines.append(f"cause:       {text}")
        if c.get("url") and c["url"] not in text:
            lines.append(f"url:         {c['url']}")
        # Streams that failed alike (one API down) share the advice: it is said once.
        if c.get("guidance") and c["guidance"] not in seen:
            seen.add(c["guidance"])
            lines.append(f"what to do:  {c['guidance']}")
    if not causes and finished.get("error"):
        lines.append(f"error:       {finished['error']}")
        if finished.get("guidance"):
            lines.append(f"what to do:  {finished['guidance']}")
    if finished.get("status") in ("failed", "stopped") and "committed" in finished:
        lines.append(f"committed:   {committed_text(finished)}")
    return lines
