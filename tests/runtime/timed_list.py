"""A list API filtered by time, for tests of what incremental runs land: a real HTTP server in a
thread serving `records` (a list: two identical records are two records; or a dict by id, which a
test changes in place) whose `updated` lies in [`since`, `until`), oldest first (in the order they
were added among equal times), `page` a page, each page naming the next by URL. Times are Unix
seconds, or ISO text when the records hold them so (`since`/`until` then arrive as ISO text)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

from purelink.runtime.windows import to_unix

PAGE = 20


class TimedList:
    def __init__(self, records: list[dict] | dict, page: int = PAGE) -> None:
        self.records = records
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                lo, hi = to_unix(q.get("since", 0)), to_unix(q.get("until", 2**62))
                at = int(q.get("offset", 0))
                listed = api.records.values() if isinstance(api.records, dict) else api.records
                found = sorted((r for r in listed if lo <= to_unix(r["updated"]) < hi),
                               key=lambda r: to_unix(r["updated"]))
                more = at + page < len(found)
                body = {"data": found[at:at + page],
                        "next": f"{url.path}?{urlencode({**q, 'offset': at + page})}" if more else None}
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
