"""A small Asana-shaped API for the import tests (no sandbox protocol speaks Asana): `GET
/api/1.0/{projects,users}` pages with an opaque `offset` token and `next_page.offset`, refuses a
`limit` above 100 as Asana does, and wants a bearer token."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, urlsplit

TOKEN = "2/1200000000000/1200000000001:asana-test-token"


def dataset(n: int) -> dict[str, list[dict]]:
    return {"projects": [{"gid": str(1200000000100 + i * 7), "resource_type": "project", "name": f"Project {i}",
                          "archived": i % 9 == 0} for i in range(n)],
            "users": [{"gid": str(1200000009000 + i * 3), "resource_type": "user", "name": f"User {i}",
                       "email": f"user{i}@example.com"} for i in range(n // 3)],
            # the tasks of the project the vendored document gives as its example ({project_gid} 1331)
            "projects/1331/tasks": [{"gid": str(1200000020000 + i * 11), "resource_type": "task",
                                     "name": f"Task {i}"} for i in range(n // 2)]}


class AsanaServer:
    def __init__(self, n: int = 250) -> None:
        self.data = dataset(n)
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                server.requests += 1
                status, body = server.answer(self.path, self.headers.get("Authorization", ""),
                                             f"http://{self.headers['Host']}")
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/api/1.0"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    def answer(self, path: str, auth: str, origin: str) -> tuple[int, dict]:
        if auth != f"Bearer {TOKEN}":
            return 401, {"errors": [{"message": "Not Authorized"}]}
        parts = urlsplit(path)
        resource = parts.path.removeprefix("/api/1.0/")
        if resource not in self.data:
            return 404, {"errors": [{"message": "Unknown object"}]}
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        limit = int(query.get("limit", "20"))
        if not 1 <= limit <= 100:
            return 400, {"errors": [{"message": "limit: Not a valid page size (must be between 1 and 100)"}]}
        start = int(base64.urlsafe_b64decode(query["offset"]).decode()) if "offset" in query else 0
        rows = self.data[resource]
        page = rows[start:start + limit]
        following = None
        if start + limit < len(rows):
            token = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
            rel = f"/{resource}?limit={limit}&offset={token}"
            following = {"offset": token, "path": rel, "uri": f"{origin}/api/1.0{rel}"}
        return 200, {"data": page, "next_page": following}

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.http.shutdown()
        self.http.server_close()
