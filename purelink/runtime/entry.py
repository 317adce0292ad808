"""The command line every generated module shares, REST or database:

    python pipelines/NAME.py [--sample N] [--full-refresh] [--db PATH] [--streams a,b] [--run-id ID] [--json]

`invocation()` parses it and sets up what a run needs from its process (JSON logs carrying the
run id, SIGTERM/SIGINT as a graceful stop, the events as JSON lines or, on a terminal, as text
a person reads); `finish()` exits with the run's status.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from purelink.runtime.auth import mask, provide, set_context
from purelink.runtime.bookkeeping import PARENT_PIPE
from purelink.runtime.events import EventWriter

EXIT_FAILED, EXIT_STOPPED = 1, 143
#: `json` or `text`: how the events are printed, whatever stdout is (unset: text only on a terminal)
EVENTS_ENV = "PURELINK_EVENTS"


@dataclass
class Invocation:
    args: argparse.Namespace
    streams: list
    db_path: Path
    run_id: str
    stop: threading.Event
    text: bool = False  # the events as lines a person reads, not JSON

    def events(self) -> EventWriter:
        """Where the run's events go: stdout, as JSON lines or as text."""
        if not self.text:
            return EventWriter(self.run_id, redact=mask, on_lost=self.stop.set)
        from purelink.runtime.readable import ReadableEvents

        return ReadableEvents(self.run_id, redact=mask, on_lost=self.stop.set, resume_hint=resume_command(sys.argv))


class JsonLogFormatter(logging.Formatter):
    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def format(self, record: logging.LogRecord) -> str:
        return mask(json.dumps({"level": record.levelname.lower(), "run_id": self.run_id,
                                "logger": record.name, "message": record.getMessage()}))


class TextLogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask(f"{record.levelname.lower()}: {record.getMessage()}")


def resume_command(argv: list[str]) -> str:
    """The command that resumes a stopped run: the same one, without what starts afresh (a full
    refresh resumes by a plain run, as its warning says; a run id names one run)."""
    kept: list[str] = []
    skip = False
    for arg in argv[1:]:
        if skip:
            skip = False
        elif arg == "--run-id":
            skip = True
        elif arg != "--full-refresh" and not arg.startswith("--run-id="):
            kept.append(arg)
    return " ".join(["python", argv[0], *kept])


def wants_text(json_flag: bool) -> bool:
    """Whether the events go out as text: only to a person at a terminal. A runner (its pipe on
    stdin), a pipe, a file, `--json` or PURELINK_EVENTS=json get the JSON lines that the
    `purelink` command, the runners and the notebook parse."""
    chosen = os.environ.get(EVENTS_ENV, "").strip().lower()
    if json_flag or os.environ.get(PARENT_PIPE) or chosen == "json":
        return False
    if chosen == "text":
        return True
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def invocation(pipeline: str, streams: list, *, db: str, workspace: str | Path | None,
               extra_options=None) -> Invocation:
    parser = argparse.ArgumentParser(prog=f"python pipelines/{pipeline}.py",
                                     description=f"Run the {pipeline} pipeline.")
    parser.add_argument("--sample", type=int, metavar="N", help="load only N records per stream (a test run)")
    parser.add_argument("--full-refresh", action="store_true", help="forget state and reload everything")
    parser.add_argument("--db", help=f"DuckDB file (default {db}); a --sample run always writes here")
    parser.add_argument("--streams", help="comma-separated subset of streams")
    parser.add_argument("--run-id", help="identifier for this run (default: random)")
    parser.add_argument("--json", action="store_true",
                        help="print the events as JSON lines even on a terminal (as a pipe gets them)")
    if extra_options is not None:
        extra_options(parser)
    args = parser.parse_args()
    chosen = streams
    if args.streams:
        wanted = set(args.streams.split(","))
        unknown = wanted - {s.name for s in streams}
        if unknown:
            parser.error(f"unknown stream(s): {', '.join(sorted(unknown))}")
        chosen = [s for s in streams if s.name in wanted]
    base = Path(workspace) if workspace else Path.cwd()
    if args.db and not Path(args.db).resolve().parent.is_dir():
        # Only the default folder, inside the workspace, is made on demand; a folder the user
        # names elsewhere must exist, or a typo becomes a new tree somewhere on the machine.
        parser.error(f"the folder {Path(args.db).resolve().parent} does not exist; create it first "
                     "(mkdir -p), or leave out --db to use the workspace's data folder")
    set_context(pipeline=pipeline, workspace=str(base))
    # Imported here: the command imports this module too, and need not load httpx with lean.
    from purelink.runtime.lean import without_pandas

    without_pandas()
    run_id = args.run_id or os.environ.get("PURELINK_RUN_ID") or uuid.uuid4().hex[:16]
    text = wants_text(args.json)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextLogFormatter() if text else JsonLogFormatter(run_id))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if os.environ.get(PARENT_PIPE) == "stdin":
        watch_parent(stop)
    return Invocation(args, chosen, Path(args.db) if args.db else base / db, run_id, stop, text)


def watch_parent(stop: threading.Event) -> None:
    """The runner's pipe on stdin: its first line holds the secrets (JSON), kept in memory only;
    its end (EOF) means the command that started this run is gone, even by kill -9, so the run
    stops gracefully and records what it committed instead of running on as an orphan."""
    first = sys.stdin.readline()
    if first.strip():
        try:
            provide(json.loads(first))
        except ValueError:
            pass  # not secrets: nothing to remember, and nothing to echo (it could hold one)

    def wait_for_eof() -> None:
        while sys.stdin.readline():
            pass
        stop.set()

    threading.Thread(target=wait_for_eof, daemon=True, name="purelink-parent").start()


def finish(finished: dict) -> None:
    """Exit with the run's status. Everything is committed, closed and printed by now, so the
    interpreter's teardown of pyarrow, duckdb and threads (about half a second) is skipped."""
    status = finished.get("status")
    code = 0 if status == "success" else EXIT_STOPPED if status == "stopped" else EXIT_FAILED
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
