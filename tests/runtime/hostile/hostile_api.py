"""A hostile REST API: every misbehaviour of issue 13 behind its own switch.

A real HTTP server in a thread. The same records are served by three paging styles: `/cursor`
(Stripe's `starting_after` on the `uid` field + `has_more`), `/pages` (`page`/`per_page` with
`total_pages` and `has_more`) and `/offset` (`offset`/`limit` with `total`); `/broken` answers
HTML forever, `/trickle` its headers and then a byte every `trickle_s` for as long as the client
reads. `truth()` says what a faithful client must load and `dead()` which records it
must refuse, so tests compare what landed with the server's own account.
"""

from __future__ import annotations

import email.utils
import json
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

GRACE_S = 0.5
BAD_BYTES, SURROGATE = "@@BADBYTES@@", "@@SURROGATE@@"  # placeholders swapped in after encoding


@dataclass
class Switches:
    cursor_gaps: bool = False  # every 40th record lacks the cursor field `uid`
    short_pages: bool = False  # every 3rd numbered page hides half its records (server-side filter)
    disagree: bool = False  # total_pages/total say one page less than has_more/the data
    case_twins: bool = False  # one record has Email AND email; a few have Email instead of email; Ä and ä
    lone_surrogate: bool = False  # one record's name is "\ud800"
    null_record: bool = False  # a null element in the records array
    invalid_utf8: bool = False  # one record's name holds the bytes ff fe
    keyless: bool = False  # one record without id, one with id null
    odd_fields: bool = False  # fields named "" or like a metadata column; an id that is an object
    html_first: bool = False  # each request's first attempt: 200 with a proxy's HTML page
    truncate_first: bool = False  # each request's next attempt: the body cut short, no Content-Length
    lockout_s: float = 0.0  # after the 3rd request, 429 without Retry-After for this long
    retry_after_every: int = 0  # every Nth request: 429 with Retry-After as an HTTP date ...
    retry_after_until: int = 30  # ... up to this request, then never again
    text_times: bool = False  # `created` is free text from the 2nd page of records on
    hide_below: int = 0  # records before this position are no longer listed (deleted upstream)
    grow_to: int = 0  # once the first numbered page is served, the list grows to this many records
    page_delay_s: float = 0.0  # each numbered page answers this much later (a slow API, for kills mid-run)
    repeat_at: int = -1  # the numbered page at this offset (or page number) holds the page before's records
    empty_at: int = -1  # the numbered page at this offset (or page number) comes back empty ...
    empty_times: int = 1  # ... this many times, with has_more and total saying more
    garbled_first: bool = False  # each request's first attempt: gzip announced, bytes that are no gzip stream
    limit_cap: int = 0  # numbered lists serve at most this many records a page, whatever the limit asked
    stuck_cursor: bool = False  # the cursor list serves its 2nd page again for any starting_after past it
    stale_count: int = 0  # after the first numbered page, total and has_more count this many records; all are served
    cut_to: int = 0  # after the first numbered page, the list holds this many records (the rest deleted upstream)
    trickle_s: float = 0.5  # /trickle: a byte of its body this often, forever


@dataclass
class Log:
    requests: list = field(default_factory=list)  # (monotonic time, path, status)
    throttled_until: list = field(default_factory=list)  # (wall time announced, monotonic time sent)
    early: int = 0  # requests that came before an announced Retry-After date
    cursorless_last: int = 0  # pages served whose last record had no uid
    attempts: dict = field(default_factory=dict)
    in_flight: int = 0  # numbered-page requests being answered now ...
    most_in_flight: int = 0  # ... and the most at once: pages fetched in parallel
    trickles: int = 0  # /trickle answers begun ...
    trickling: int = 0  # ... and still sending: the client has not dropped the connection
    trickled: threading.Event = field(default_factory=threading.Event)  # a /trickle answer began


class HostileApi:
    def __init__(self, n: int = 600, **switches) -> None:
        self.n = n
        self.switches = Switches(**switches)
        self.log = Log()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._lockout_from: float | None = None
        self._emptied = 0
        self._counted: set[str] = set()  # routes that served a page: `stale_count` and `cut_to` apply from now on

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- the data ---------------------------------------------------------------------------
    def records(self) -> list[dict | None]:
        """Every entry the API serves, in order (position = index), built from the switches."""
        s, out = self.switches, []
        for pos in range(self.n):
            created = datetime.fromtimestamp(1_600_000_000 + pos * 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if s.text_times and pos >= 50:
                created = f"around {pos % 12 + 1} o'clock, give or take"
            rec: dict = {"id": pos + 1, "uid": f"u{pos:06d}", "name": f"record {pos}",
                         "email": f"user{pos}@example.com", "created": created,
                         "plan": {"tier": ["free", "pro"][pos % 2], "seats": pos % 9}}
            if s.cursor_gaps and pos % 40 == 39:
                del rec["uid"]
            if s.case_twins and pos == 70:
                rec["Email"] = "TWIN@example.com"
            if s.case_twins and pos == 72:  # not twins: DuckDB folds the case of ASCII letters only
                rec["Ä"], rec["ä"] = "upper", "lower"
            if s.case_twins and pos == 74:
                rec["Ä"] = "upper only"
            if s.case_twins and 80 <= pos < 84:
                rec["Email"] = rec.pop("email")
            if s.lone_surrogate and pos == 91:
                rec["name"] = SURROGATE
            if s.invalid_utf8 and pos == 93:
                rec["name"] = f"record {BAD_BYTES}"
            if s.keyless and pos == 97:
                del rec["id"]
            if s.keyless and pos == 101:
                rec["id"] = None
            if s.odd_fields and pos == 107:
                rec[""] = "nameless"
            if s.odd_fields and pos == 109:
                rec["id"] = {"region": "eu", "n": pos + 1}
            if s.odd_fields and pos == 111:
                rec["_purelink_extracted_at"] = "yesterday"
            out.append(None if s.null_record and pos == 103 else rec)
        return out

    def visible(self, pos: int) -> bool:
        """Whether a record passes the server-side filter of the numbered endpoints."""
        return not (self.switches.short_pages and (pos // 50) % 3 == 1 and pos % 2 == 0)

    def dead(self, numbered: bool = False) -> dict[int, str]:
        """Positions of the records a client must dead-letter, with a word of the reason."""
        s = self.switches
        bad = {70: "differ only in case"} if s.case_twins else {}
        bad.update({91: "not valid Unicode"} if s.lone_surrogate else {})
        bad.update({93: "not valid Unicode"} if s.invalid_utf8 else {})
        bad.update({97: "primary key id is missing", 101: "primary key id is null"} if s.keyless else {})
        bad.update({103: "not an object"} if s.null_record else {})
        bad.update({107: "empty name", 109: "not a single value", 111: "metadata column"} if s.odd_fields else {})
        return {p: why for p, why in bad.items() if not numbered or self.visible(p)}

    def truth(self, numbered: bool = False) -> dict[int, dict]:
        """id -> record a faithful client loads from that endpoint."""
        dead = self.dead(numbered)
        return {r["id"]: r for pos, r in enumerate(self.records())
                if pos not in dead and (not numbered or self.visible(pos)) and pos < (self.switches.cut_to or self.n)}

    # -- serving ----------------------------------------------------------------------------
    def _page(self, route: str, q: dict) -> tuple[dict, list]:
        entries = [(p, r) for p, r in enumerate(self.records()) if p >= self.switches.hide_below]
        if route == "cursor":
            size = int(q.get("limit", 50))
            after = int(q["starting_after"][1:]) if "starting_after" in q else -1
            if self.switches.stuck_cursor and after > size - 1:
                after = size - 1  # stuck: the page after the 1st, whatever the client asks for
            rest = [(p, r) for p, r in entries if p > after]
            page = [r for _, r in rest[:size]]
            if page and (not isinstance(page[-1], dict) or "uid" not in page[-1]):
                self.log.cursorless_last += 1
            return {"object": "list", "data": page, "has_more": len(rest) > size}, page
        size = int(q.get("per_page", q.get("limit", 50)))
        n, counted = self.n, route in self._counted
        self._counted.add(route)
        if counted and self.switches.cut_to:
            n, entries = self.switches.cut_to, entries[:self.switches.cut_to]
        size = min(size, self.switches.limit_cap or size)  # the API's own maximum wins over the client's ask
        start = (int(q["page"]) - 1) * size if route == "pages" else int(q.get("offset", 0))
        if q.get("page", q.get("offset")) == str(self.switches.repeat_at):
            start -= size  # a server bug: the position is read one page short
        page = [r for p, r in entries[start:start + size] if self.visible(p)]
        if q.get("page", q.get("offset")) == str(self.switches.empty_at) and self._emptied < self.switches.empty_times:
            self._emptied += 1
            page = []  # a glitch of the API's: the page is there, this answer just holds none of it
        n = self.switches.stale_count if counted and self.switches.stale_count else n
        pages = math.ceil(n / size) - (1 if self.switches.disagree else 0)
        more = start + size < n
        if route == "pages":
            return {"data": page, "total_pages": pages, "has_more": more}, page
        return {"data": page, "total": pages * size if self.switches.disagree else n,
                "has_more": more}, page

    def _fault(self, key: str, seq: int) -> tuple | None:
        """The misbehaviour for this request, if any: (status, headers, body, cut)."""
        s, now = self.switches, time.monotonic()
        if s.lockout_s and seq >= 3:
            self._lockout_from = self._lockout_from or now
            if now - self._lockout_from < s.lockout_s:
                return 429, {"Content-Type": "application/json"}, b'{"error": "quota exceeded"}', False
        if s.retry_after_every and seq % s.retry_after_every == 0 and seq <= s.retry_after_until:
            until = math.ceil(time.time()) + 1
            self.log.throttled_until.append((until, now))
            date = email.utils.formatdate(until, usegmt=True)
            return 429, {"Retry-After": date, "Content-Type": "application/json"}, b'{"error": "slow down"}', False
        attempt = self.log.attempts[key] = self.log.attempts.get(key, 0) + 1
        if key.startswith("/broken") or (s.html_first and attempt == 1):
            return 200, {"Content-Type": "text/html"}, b"<html><body><h1>502 Bad Gateway</h1></body></html>", False
        if s.garbled_first and attempt == 1:
            return 200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, b"\x1f\x8b\x08\x00not gzip", False
        if s.truncate_first and attempt == 1 + s.html_first:
            return 200, {"Content-Type": "application/json"}, None, True
        return None

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                with api.lock:
                    wall = time.time()
                    # early: before the announced date, and sent after the client had the 429 (a
                    # request already on its way when the 429 left is not a client's fault)
                    if any(wall < until and time.monotonic() - sent > GRACE_S
                           for until, sent in api.log.throttled_until[-1:]):
                        api.log.early += 1
                    seq = len(api.log.requests) + 1
                    fault = api._fault(self.path, seq)
                    status = fault[0] if fault else 200
                    api.log.requests.append((time.monotonic(), url.path, status))
                if fault and not fault[3]:
                    return self._send(fault[0], fault[1], fault[2])
                if url.path == "/trickle":
                    return self._trickle()
                numbered = url.path.strip("/") in ("pages", "offset")
                if numbered:
                    with api.lock:
                        api.log.in_flight += 1
                        api.log.most_in_flight = max(api.log.most_in_flight, api.log.in_flight)
                    time.sleep(api.switches.page_delay_s)  # the API's own slowness, not a wait for an event
                with api.lock:
                    body, _ = api._page(url.path.strip("/"), q)
                    if numbered:
                        api.log.in_flight -= 1
                        api.n = max(api.n, api.switches.grow_to)
                data = json.dumps(body, ensure_ascii=False).encode()
                data = data.replace(BAD_BYTES.encode(), b"\xff\xfe").replace(SURROGATE.encode(), b"\\ud800")
                if fault:  # cut short, and no length to tell: the connection just closes
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.close_connection = True
                    return
                self._send(200, {"Content-Type": "application/json"}, data)

            def _trickle(self) -> None:
                """Headers, then a byte every `trickle_s` of a body that never ends, until the client
                drops the connection."""
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(10**9))
                self.end_headers()
                with api.lock:
                    api.log.trickles += 1
                    api.log.trickling += 1
                api.log.trickled.set()
                try:
                    self.wfile.write(b'{"data": [')
                    while True:
                        self.wfile.flush()
                        time.sleep(api.switches.trickle_s)  # the API's slowness itself, not a wait for an event
                        self.wfile.write(b" ")
                except OSError:  # the client dropped the connection
                    self.close_connection = True
                finally:
                    with api.lock:
                        api.log.trickling -= 1

            def _send(self, status: int, headers: dict, data: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
