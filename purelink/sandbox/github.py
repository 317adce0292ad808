"""GitHub's REST API as GitHub Enterprise Server serves it (`/api/v3`): repositories, issues, pulls, commits.

Faithful where a client can tell: `Authorization: Bearer <token>` (or `token <token>`), 401 `Bad
credentials` for an unknown one, anonymous calls allowed at 60 an hour; page-number lists with
`per_page` (default 30, at most 100) and `page`, and a `Link` header with absolute `next`, `last`,
`first` and `prev` URLs in GitHub's `/repositories/{id}/...` form keeping every query parameter;
issues with `state`, `sort`, `direction`, `since` (updated at or after) and pull requests among
them (with a `pull_request` field, and a different `id` than in `/pulls`); pulls with `state`,
`sort`, `direction` (asc by default unless sorting by creation); commits newest first with `since`
and `until` on the committer date; `X-RateLimit-*` headers, 5,000 requests an hour per token, 403
once spent. Errors are `{"message", "documentation_url", "status"}`.

Data for N (the sandbox's `customers`): the user `octocat` owns max(5, N // 100) repositories;
`octocat/Hello-World` has N // 4 issues, N // 8 pull requests and N // 2 commits.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from functools import lru_cache
from urllib.parse import urlencode

from purelink.sandbox.fakes import FIRST, LAST, Faker, encode, parse_time, utc
from purelink.sandbox.protocol import Protocol, Request, Response, SandboxConfig

DEFAULT_TOKEN = "ghp_PurelinkSandbox0123456789abcdefXYZ90"
OWNER, REPO = "octocat", "Hello-World"
OWNER_ID, REPO_ID = 583231, 1296269
HOURLY, ANONYMOUS_HOURLY = 5000, 60
DOCS = "https://docs.github.com/rest"
LABELS = [("bug", "d73a4a"), ("enhancement", "a2eeef"), ("documentation", "0075ca"), ("question", "d876e3"),
          ("good first issue", "7057ff")]
REPO_NAMES = ["Hello-World", "Spoon-Knife", "linguist", "octocat.github.io", "git-consortium", "hello-worId",
              "test-repo1", "boysenberry-repo-1"]
LANGUAGES = ["Python", "Go", "TypeScript", "Ruby", "Rust", None]


def create(config: SandboxConfig) -> GitHubProtocol:
    return GitHubProtocol(config)


class GitHubError(Exception):
    def __init__(self, status: int, message: str, docs: str = DOCS) -> None:
        super().__init__(message)
        self.status, self.message, self.docs = status, message, docs

    def response(self) -> Response:
        return json_response(self.status, {"message": self.message, "documentation_url": self.docs,
                                           "status": str(self.status)})


def json_response(status: int, payload: object, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, encode(payload), [("Content-Type", "application/json; charset=utf-8"),
                                              *(headers or [])])


class HourlyQuota:
    """GitHub's primary rate limit: requests per token per hour, from the first request of the hour."""

    def __init__(self) -> None:
        self._used: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def take(self, who: str, limit: int) -> tuple[int, int, int]:
        """(used, remaining, reset as unix seconds); `used` above `limit` means refused."""
        with self._lock:
            used, reset = self._used.get(who, (0, 0.0))
            now = time.time()
            if now >= reset:
                used, reset = 0, now + 3600
            used += 1
            self._used[who] = (used, reset)
        return used, max(0, limit - used), math.ceil(reset)


class GitHubProtocol(Protocol):
    name = "github"
    prefixes = ("/api/v3/", "/api/v3")

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.tokens = frozenset({DEFAULT_TOKEN})
        self.quota = HourlyQuota()

    def data(self) -> dict:
        return dataset(self.config.seed, self.config.customers)

    # -- hooks ------------------------------------------------------------------------------------

    def source(self, base_url: str) -> dict:
        return {"base_url": f"{base_url}/api/v3", "api_key": DEFAULT_TOKEN, "owner": OWNER, "repo": REPO}

    def rate_limited(self, request: Request, retry_after: float) -> Response:
        err = GitHubError(429, "You have exceeded a secondary rate limit. Please wait a few minutes before you "
                          "try again (sandbox rate limit).", f"{DOCS}/overview/rate-limits-for-the-rest-api")
        response = err.response()
        response.headers.append(("Retry-After", f"{max(1, math.ceil(retry_after))}"))
        return self._finish(response)

    def server_error(self, request: Request) -> Response:
        return self._finish(GitHubError(500, "Server Error (sandbox: injected by fail_rate)").response())

    def handle(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() in ("bearer", "token") and token.strip() in self.tokens:
            who, limit = token.strip(), HOURLY
        elif not scheme:
            who, limit = "anonymous", ANONYMOUS_HOURLY
        else:
            return self._finish(GitHubError(401, "Bad credentials").response())
        used, remaining, reset = self.quota.take(who, limit)
        headers = [("X-RateLimit-Limit", str(limit)), ("X-RateLimit-Remaining", str(remaining)),
                   ("X-RateLimit-Reset", str(reset)), ("X-RateLimit-Used", str(min(used, limit))),
                   ("X-RateLimit-Resource", "core")]
        if used > limit:
            err = GitHubError(403, "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for "
                              "help, please include the request ID.", f"{DOCS}/overview/rate-limits-for-the-rest-api")
            response = err.response()
        else:
            try:
                response = self._route(request)
            except GitHubError as err:
                response = err.response()
        response.headers += headers
        return self._finish(response)

    # -- plumbing ---------------------------------------------------------------------------------

    def _finish(self, response: Response) -> Response:
        response.headers += [("X-GitHub-Media-Type", "github.v3; format=json"),
                             ("X-GitHub-Api-Version-Selected", "2022-11-28"),
                             ("X-GitHub-Request-Id", f"SBX:{time.monotonic_ns():X}")]
        return response

    def _route(self, request: Request) -> Response:
        if request.method != "GET":
            raise GitHubError(404, "Not Found")
        parts = [p for p in request.path[len("/api/v3"):].split("/") if p]
        data = self.data()
        params = dict(request.query_pairs())
        if not parts:
            return json_response(200, {"repository_url": f"{request.base_url}/api/v3/repos/{{owner}}/{{repo}}",
                                       "rate_limit_url": f"{request.base_url}/api/v3/rate_limit"})
        if parts == ["user"]:
            return json_response(200, {**user(OWNER, OWNER_ID), "name": "The Octocat"})
        if parts[0] in ("users", "user", "orgs") and len(parts) == 3 and parts[2] == "repos":
            # the sandbox's one owner answers as a user and as an organization (/orgs/{org}/repos)
            if parts[1].lower() not in (OWNER.lower(), str(OWNER_ID)):
                raise GitHubError(404, "Not Found", f"{DOCS}/repos/repos#list-repositories-for-a-user")
            rows = sort_repos(data["repos"], params)
            return self._page(request, rows, f"/user/{OWNER_ID}/repos", params)
        if parts[0] == "repos" and len(parts) >= 3:
            if f"{parts[1]}/{parts[2]}".lower() not in data["by_name"]:
                raise GitHubError(404, "Not Found", f"{DOCS}/repos/repos#get-a-repository")
            repo = data["by_name"][f"{parts[1]}/{parts[2]}".lower()]
            rest = parts[3:]
        elif parts[0] == "repositories" and len(parts) >= 2 and parts[1].isdigit():
            repo = data["by_id"].get(int(parts[1]))
            if repo is None:
                raise GitHubError(404, "Not Found")
            rest = parts[2:]
        else:
            raise GitHubError(404, "Not Found")
        if not rest:
            return json_response(200, repo)
        content = data["content"].get(repo["id"], {"issues": [], "pulls": [], "commits": []})
        base = f"/repositories/{repo['id']}/{rest[0]}"
        if rest == ["issues"]:
            return self._page(request, list_issues(content["issues"], params), base, params)
        if rest == ["pulls"]:
            return self._page(request, list_pulls(content["pulls"], params), base, params)
        if rest == ["commits"]:
            return self._page(request, list_commits(content["commits"], params), base, params)
        raise GitHubError(404, "Not Found")

    def _page(self, request: Request, rows: list, path: str, params: dict) -> Response:
        per_page = number(params, "per_page", 30)
        per_page = min(100, per_page) if per_page > 0 else 30
        page = max(1, number(params, "page", 1))
        last = max(1, math.ceil(len(rows) / per_page))
        chunk = rows[(page - 1) * per_page:page * per_page]
        links = []

        def url(n: int) -> str:
            return f"{request.base_url}/api/v3{path}?{urlencode({**params, 'page': n})}"

        if page < last:
            links += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
        if page > 1:
            links += [f'<{url(1)}>; rel="first"', f'<{url(min(page - 1, last))}>; rel="prev"']
        return Response(200, b"[" + b",".join(chunk) + b"]",
                        [("Content-Type", "application/json; charset=utf-8"),
                         *([("Link", ", ".join(links))] if links else [])])


def number(params: dict, name: str, default: int) -> int:
    value = params.get(name, "")
    return int(value) if value.lstrip("-").isdigit() else default


def since_param(params: dict, name: str) -> int | None:
    if name not in params:
        return None
    when = parse_time(params[name])
    if when is None:
        raise GitHubError(422, f"Invalid value for parameter '{name}': {params[name]!r} is not an ISO 8601 "
                          "timestamp (YYYY-MM-DDTHH:MM:SSZ)")
    return when


def ordered(rows: list[tuple], key: str, direction: str) -> list[bytes]:
    """Rows are (fields, body) pairs; sort on a field, ties by number/id, and keep the JSON bodies."""
    return [body for fields, body in sorted(rows, key=lambda r: (r[0][key], r[0]["id"]),
                                            reverse=direction == "desc")]


def list_issues(rows: list[tuple], params: dict) -> list[bytes]:
    state = params.get("state", "open")
    since = since_param(params, "since")
    keep = [r for r in rows
            if (state == "all" or r[0]["state"] == state) and (since is None or r[0]["updated"] >= since)]
    sort = {"created": "created", "updated": "updated", "comments": "comments"}.get(params.get("sort", "created"))
    if sort is None:
        raise GitHubError(422, "Validation Failed: sort must be one of created, updated, comments")
    return ordered(keep, sort, params.get("direction", "desc"))


def list_pulls(rows: list[tuple], params: dict) -> list[bytes]:
    state = params.get("state", "open")
    keep = [r for r in rows if state == "all" or r[0]["state"] == state]
    sort = params.get("sort", "created")
    key = {"created": "created", "updated": "updated", "popularity": "comments", "long-running": "created"}.get(sort)
    if key is None:
        raise GitHubError(422, "Validation Failed: sort must be one of created, updated, popularity, long-running")
    return ordered(keep, key, params.get("direction", "desc" if sort == "created" else "asc"))


def list_commits(rows: list[tuple], params: dict) -> list[bytes]:
    since, until = since_param(params, "since"), since_param(params, "until")
    keep = [r for r in rows
            if (since is None or r[0]["created"] >= since) and (until is None or r[0]["created"] <= until)]
    return ordered(keep, "created", "desc")


def sort_repos(rows: list[tuple], params: dict) -> list[bytes]:
    sort = params.get("sort", "full_name")
    key = {"full_name": "name", "created": "created", "updated": "updated", "pushed": "updated"}.get(sort, "name")
    return ordered(rows, key, params.get("direction", "asc" if sort == "full_name" else "desc"))


def user(login: str, user_id: int) -> dict:
    return {"login": login, "id": user_id, "node_id": f"MDQ6VXNlcj{user_id}", "type": "User", "site_admin": False,
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
            "html_url": f"https://github.com/{login}", "url": f"https://api.github.com/users/{login}"}


@lru_cache(maxsize=4)
def dataset(seed: int, n: int) -> dict:
    """Repositories of octocat, and the issues, pulls and commits of octocat/Hello-World.

    Lists are kept as (sort fields, JSON body) pairs so a page is a slice and a join.
    """
    fake = Faker(f"github-{seed}")
    people = [user(f"{fake.pick(FIRST).lower()}-{fake.pick(LAST).lower()}-{i}".encode("ascii", "ignore").decode(),
                   1000 + i * 7919) for i in range(24)]
    owner = user(OWNER, OWNER_ID)
    repos, by_name = [], {}
    names = REPO_NAMES + [f"sandbox-repo-{i}" for i in range(max(5, n // 100) - len(REPO_NAMES))]
    for i, name in enumerate(names[:max(5, n // 100)]):
        created = fake.moment()
        updated = fake.later(created)
        rid = REPO_ID if name == REPO else 1300000 + i * 131
        repo = {"id": rid, "node_id": f"MDEwOlJlcG9zaXRvcnk{rid}", "name": name, "full_name": f"{OWNER}/{name}",
                "private": False, "owner": owner, "html_url": f"https://github.com/{OWNER}/{name}",
                "description": fake.pick(["My first repository on GitHub!", "A sandbox repository", None]),
                "fork": False, "created_at": utc(created), "updated_at": utc(updated), "pushed_at": utc(updated),
                "language": fake.pick(LANGUAGES), "stargazers_count": fake.rng.randrange(0, 3000),
                "watchers_count": fake.rng.randrange(0, 3000), "forks_count": fake.rng.randrange(0, 500),
                "open_issues_count": 0, "default_branch": "main", "visibility": "public",
                "topics": fake.pick([[], ["octocat"], ["api", "example"]]), "archived": False}
        repos.append(({"id": rid, "name": name.lower(), "created": created, "updated": updated}, repo))
        by_name[f"{OWNER}/{name}".lower()] = repo
    content = {REPO_ID: hello_world(fake, n, people)}
    by_name[f"{OWNER}/{REPO}".lower()]["open_issues_count"] = sum(1 for f, _ in content[REPO_ID]["issues"]
                                                                 if f["state"] == "open")
    return {"repos": [(f, encode(r)) for f, r in repos], "by_name": by_name, "content": content,
            "by_id": {r["id"]: r for r in by_name.values()}}


def hello_world(fake: Faker, n: int, people: list[dict]) -> dict:
    api = f"https://api.github.com/repos/{OWNER}/{REPO}"
    html = f"https://github.com/{OWNER}/{REPO}"
    kinds = ["issue"] * (n // 4) + ["pull"] * (n // 8)
    fake.rng.shuffle(kinds)
    issues, pulls = [], []
    for number, (kind, created) in enumerate(zip(kinds, sorted(fake.moment() for _ in kinds)), start=1):
        updated = fake.later(created)
        closed = fake.chance(0.6)
        author = fake.pick(people)
        issue_id = 1_000_000_000 + number * 17
        title = fake.pick(["Fix typo in README", "Crash when the config is empty", "Add dark mode",
                           "Support Python 3.13", "Docs: clarify setup", "Speed up the importer"])
        labels = [{"id": 200 + i, "name": name, "color": color, "default": True}
                  for i, (name, color) in enumerate(LABELS) if fake.chance(0.2)]
        common = {"number": number, "state": "closed" if closed else "open", "title": f"{title} (#{number})",
                  "user": author, "body": fake.pick([None, f"Steps to reproduce #{number}.", "See the linked PR."]),
                  "created_at": utc(created), "updated_at": utc(updated),
                  "closed_at": utc(updated) if closed else None,
                  "author_association": fake.pick(["OWNER", "CONTRIBUTOR", "NONE"]), "locked": False}
        issue = {"id": issue_id, "node_id": f"I_kwDOABs{issue_id}", "url": f"{api}/issues/{number}",
                 "html_url": f"{html}/issues/{number}", **common, "labels": labels,
                 "comments": fake.rng.randrange(0, 30), "assignee": None, "assignees": []}
        sort_fields = {"id": issue_id, "created": created, "updated": updated, "comments": issue["comments"],
                       "state": common["state"]}
        if kind == "pull":
            merged = closed and fake.chance(0.8)
            pull_id = 2_000_000_000 + number * 31
            pull = {"id": pull_id, "node_id": f"PR_kwDOABs{pull_id}", "url": f"{api}/pulls/{number}",
                    "html_url": f"{html}/pull/{number}", **common, "draft": fake.chance(0.1),
                    "merged_at": utc(updated) if merged else None,
                    "merge_commit_sha": hashlib.sha1(f"merge-{number}".encode()).hexdigest() if merged else None,
                    "head": {"ref": f"feature-{number}", "sha": hashlib.sha1(f"head-{number}".encode()).hexdigest()},
                    "base": {"ref": "main", "sha": hashlib.sha1(f"base-{number}".encode()).hexdigest()}}
            issue["html_url"] = f"{html}/pull/{number}"
            issue["pull_request"] = {"url": f"{api}/pulls/{number}", "html_url": f"{html}/pull/{number}",
                                     "merged_at": pull["merged_at"]}
            pulls.append(({**sort_fields, "id": pull_id}, encode(pull)))
        issues.append((sort_fields, encode(issue)))
    commits, parent = [], None
    for i, created in enumerate(sorted(fake.moment() for _ in range(n // 2))):
        sha = hashlib.sha1(f"commit-{i}-{created}".encode()).hexdigest()
        author = fake.pick(people)
        who = {"name": author["login"].replace("-", " ").title(),
               "email": f"{author['login']}@users.noreply.github.com",
               "date": utc(fake.rng.randrange(created - 86400 * 3, created + 1))}
        commit = {"sha": sha, "node_id": f"C_kwDOABs{i}", "url": f"{api}/commits/{sha}",
                  "html_url": f"{html}/commit/{sha}",
                  "commit": {"author": who, "committer": {**who, "date": utc(created)},
                             "message": fake.pick(["Fix tests", "Update README.md", "Refactor the parser",
                                                   "Bump dependencies", "Merge pull request"]),
                             "tree": {"sha": hashlib.sha1(f"tree-{i}".encode()).hexdigest()}, "comment_count": 0},
                  "author": None if fake.chance(0.05) else author, "committer": author,
                  "parents": [] if parent is None else [{"sha": parent, "url": f"{api}/commits/{parent}"}]}
        commits.append(({"id": sha, "created": created}, encode(commit)))
        parent = sha
    return {"issues": issues, "pulls": pulls, "commits": commits}
