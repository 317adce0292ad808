"""Salesforce's REST API, the parts a loader meets: SOQL `query` with query locators, `describe`, `limits`.

Faithful where a client can tell: `GET /services/data/vXX.X/query?q=SOQL` answers `totalSize`, `done`,
`records` (each with `attributes`) and, while not done, `nextRecordsUrl` (`/query/<locator>-<offset>`,
followed without parameters); batches of 2,000 unless `Sforce-Query-Options: batchSize=N` (200..2000)
asks for fewer; `Authorization: Bearer <access token>`, else 401 `INVALID_SESSION_ID`; errors are a
JSON list of `{message, errorCode}` (`MALFORMED_QUERY`, `INVALID_FIELD`, `INVALID_TYPE`, `NOT_FOUND`);
every answer carries `Sforce-Limit-Info: api-usage=used/max`.

SOQL understood: `SELECT f1, f2 FROM Object [WHERE a op v {AND|OR} ...] [ORDER BY f [ASC|DESC]
[NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]` with `= != <> < <= > >= LIKE IN`, quoted strings,
numbers, true/false/null, dates and datetimes (unquoted, as SOQL wants them). Not modelled:
relationship fields, aggregates, FIELDS(), parentheses, writes. Query locators are stateless (the
query travels inside them), so unlike real ones they never expire.

Limits: real Salesforce refuses calls past the daily allowance with 403 `REQUEST_LIMIT_EXCEEDED`;
the sandbox's shared `--rate-limit` fault answers 429 with Retry-After instead, so every protocol
throttles the same way.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import zlib
from fnmatch import fnmatchcase

from purelink.sandbox import salesforce_data
from purelink.sandbox.fakes import encode, parse_time
from purelink.sandbox.protocol import Protocol, Request, Response, SandboxConfig

DEFAULT_TOKEN = "00D5g000004SandB!AQEAQPurelinkSandboxToken.7Hn3QeX9sW2vB6kTz4MfR8yC"
VERSION = "v62.0"
DAILY_MAX = 15000
SUPPORTED = [f"{v}.0" for v in range(31, 63)]
RELEASES = {"62.0": "Winter '25", "61.0": "Summer '24", "60.0": "Spring '24", "59.0": "Winter '24"}
VERSION_PATH = re.compile(r"^/services/data/v(\d+\.\d)(/.*)?$")
SOQL = re.compile(r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)"
                  r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+ORDER\s+BY\s+(?P<order>.+?))?"
                  r"(?:\s+LIMIT\s+(?P<limit>\d+))?(?:\s+OFFSET\s+(?P<offset>\d+))?\s*$", re.IGNORECASE | re.DOTALL)
TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<op><>|!=|<=|>=|=|<|>|\(|\)|,)|(?P<word>[^\s'(),<>=!]+))")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def create(config: SandboxConfig) -> SalesforceProtocol:
    return SalesforceProtocol(config)


class SalesforceError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or []

    def response(self) -> Response:
        return json_list(self.status, [{"message": self.message, "errorCode": self.code}], self.headers)


def json_list(status: int, payload: object, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, encode(payload), [("Content-Type", "application/json;charset=UTF-8"), *(headers or [])])


class SalesforceProtocol(Protocol):
    name = "salesforce"
    prefixes = ("/services/data/", "/services/data")

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.tokens = frozenset({DEFAULT_TOKEN})
        self._used = 0
        self._lock = threading.Lock()

    def data(self) -> dict[str, list[dict]]:
        return salesforce_data.dataset(self.config.seed, self.config.customers)

    # -- hooks ------------------------------------------------------------------------------------

    def source(self, base_url: str) -> dict:
        return {"base_url": f"{base_url}/services/data/{VERSION}", "api_key": DEFAULT_TOKEN}

    def rate_limited(self, request: Request, retry_after: float) -> Response:
        return self._finish(SalesforceError(429, "REQUEST_LIMIT_EXCEEDED", "Too many requests (sandbox rate limit)."
                                            " Retry after the time in Retry-After.",
                                            [("Retry-After", f"{max(1, round(retry_after))}")]).response())

    def server_error(self, request: Request) -> Response:
        return self._finish(SalesforceError(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred (sandbox: "
                                            "injected by fail_rate). Please include this ErrorId if you contact "
                                            "support: 1234567890-12345 (-987654321)").response())

    def handle(self, request: Request) -> Response:
        try:
            response = self._route(request)
        except SalesforceError as err:
            response = err.response()
        return self._finish(response)

    # -- plumbing ---------------------------------------------------------------------------------

    def _finish(self, response: Response) -> Response:
        with self._lock:
            self._used += 1
            used = self._used
        response.headers.append(("Sforce-Limit-Info", f"api-usage={used}/{DAILY_MAX}"))
        return response

    def _authenticate(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or token.strip() not in self.tokens:
            raise SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid",
                                  [("WWW-Authenticate", 'Token realm="Salesforce", error="invalid_token"')])

    def _route(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if path == "/services/data":
            return json_list(200, [{"label": RELEASES.get(v, f"API {v}"), "url": f"/services/data/v{v}",
                                    "version": v} for v in SUPPORTED])
        match = VERSION_PATH.match(path)
        if not match or match.group(1) not in SUPPORTED:
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        self._authenticate(request)
        if request.method != "GET":
            raise SalesforceError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed. "
                                  "Allowed are GET,HEAD")
        version = f"v{match.group(1)}"
        parts = [p for p in (match.group(2) or "").split("/") if p]
        if not parts:
            return json_list(200, {k: f"/services/data/{version}/{k}"
                                   for k in ("limits", "query", "queryAll", "sobjects")})
        if parts == ["limits"]:
            with self._lock:
                used = self._used + 1
            return json_list(200, {"DailyApiRequests": {"Max": DAILY_MAX, "Remaining": DAILY_MAX - used},
                                   "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200}})
        if parts[0] in ("query", "queryAll") and len(parts) <= 2:
            # queryAll also returns deleted (IsDeleted) rows; query leaves them out, as Salesforce does
            if len(parts) == 2:
                return self._query_more(parts[1], version, parts[0])
            q = dict(request.query_pairs()).get("q")
            if not q:
                raise SalesforceError(400, "MALFORMED_QUERY", "A query string has to be specified")
            return self._query(q, batch_size(request), 0, version, parts[0])
        if parts[0] == "sobjects":
            return self._sobjects(parts[1:], version)
        raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")

    # -- sobjects ---------------------------------------------------------------------------------

    def _sobjects(self, parts: list[str], version: str) -> Response:
        if not parts:
            return json_list(200, {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [
                {k: v for k, v in salesforce_data.describe(s, version).items() if k != "fields"}
                for s in salesforce_data.FIELDS]})
        sobject = canonical_object(parts[0])
        if len(parts) == 2 and parts[1] == "describe":
            return json_list(200, salesforce_data.describe(sobject, version))
        if len(parts) == 2:
            for rec in self.data()[sobject]:
                if rec["Id"] in (parts[1], parts[1][:15]) or rec["Id"][:15] == parts[1]:
                    return json_list(200, render(sobject, rec, salesforce_data.fields(sobject), version))
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        if len(parts) == 1:
            desc = salesforce_data.describe(sobject, version)
            return json_list(200, {"objectDescribe": {k: v for k, v in desc.items() if k != "fields"},
                                   "recentItems": []})
        raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")

    # -- query ------------------------------------------------------------------------------------

    def _query(self, soql: str, batch: int, offset: int, version: str, resource: str = "query") -> Response:
        sobject, selected, rows = run_soql(soql, self.data(), deleted=resource == "queryAll")
        page = rows[offset:offset + batch]
        body: dict = {"totalSize": len(rows), "done": offset + len(page) >= len(rows)}
        if not body["done"]:
            body["nextRecordsUrl"] = (f"/services/data/{version}/{resource}/{locator(soql, batch)}"
                                      f"-{offset + len(page)}")
        body["records"] = [render(sobject, rec, selected, version) for rec in page]
        return json_list(200, body)

    def _query_more(self, token: str, version: str, resource: str = "query") -> Response:
        head, _, offset = token.rpartition("-")
        try:
            state = json.loads(zlib.decompress(base64.urlsafe_b64decode(head[3:] + "==")))
            return self._query(state["q"], int(state["b"]), int(offset), version, resource)
        except (ValueError, KeyError, zlib.error, TypeError):
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator") from None


def batch_size(request: Request) -> int:
    options = request.headers.get("sforce-query-options", "")
    match = re.search(r"batchSize\s*=\s*(\d+)", options, re.IGNORECASE)
    return min(2000, max(200, int(match.group(1)))) if match else 2000


def locator(soql: str, batch: int) -> str:
    packed = zlib.compress(json.dumps({"q": soql, "b": batch}, separators=(",", ":")).encode(), 9)
    return "01g" + base64.urlsafe_b64encode(packed).decode().rstrip("=")


def canonical_object(name: str) -> str:
    for sobject in salesforce_data.FIELDS:
        if sobject.lower() == name.lower():
            return sobject
    raise SalesforceError(404, "NOT_FOUND", f"The requested resource does not exist (sObject type '{name}' "
                          "is not supported in the sandbox)")


def render(sobject: str, rec: dict, selected: list, version: str) -> dict:
    out: dict = {"attributes": {"type": sobject, "url": f"/services/data/{version}/sobjects/{sobject}/{rec['Id']}"}}
    for f in selected:
        out[f.name] = f.render(rec.get(f.name))
    return out


# -- SOQL ---------------------------------------------------------------------------------------


def run_soql(soql: str, data: dict[str, list[dict]], deleted: bool = False) -> tuple[str, list, list[dict]]:
    """(sObject, selected fields, matching records in order) for one SELECT statement."""
    match = SOQL.match(soql)
    if not match:
        raise SalesforceError(400, "MALFORMED_QUERY", f"unexpected token in query: {soql[:80]!r} "
                              "(the sandbox understands SELECT ... FROM ... [WHERE] [ORDER BY] [LIMIT] [OFFSET])")
    name = match.group("object")
    sobject = next((s for s in salesforce_data.FIELDS if s.lower() == name.lower()), None)
    if sobject is None:
        raise SalesforceError(400, "INVALID_TYPE", f"\n{soql[:120]}\nERROR at Row:1:Column:1\nsObject type "
                              f"'{name}' is not supported. If you are attempting to use a custom object, be sure "
                              "to append the '__c' after the entity name. Please reference your WSDL or the "
                              "describe call for the appropriate names.")
    known = {f.name.lower(): f for f in salesforce_data.fields(sobject)}

    def field(token: str):
        f = known.get(token.strip().lower())
        if f is None:
            raise SalesforceError(400, "INVALID_FIELD", f"\n{soql[:120]}\nERROR at Row:1:Column:1\nNo such column "
                                  f"'{token.strip()}' on entity '{sobject}'. If you are attempting to use a custom "
                                  "field, be sure to append the '__c' after the custom field name. Please reference "
                                  "your WSDL or the describe call for the appropriate names.")
        return f

    selected = [field(t) for t in match.group("fields").split(",")]
    rows = data[sobject] if deleted else [r for r in data[sobject] if not r.get("IsDeleted")]
    if match.group("where"):
        test = where(match.group("where"), field)
        rows = [r for r in rows if test(r)]
    if match.group("order"):
        for clause in reversed(match.group("order").split(",")):
            words = clause.split()
            f = field(words[0])
            desc = len(words) > 1 and words[1].upper() == "DESC"
            nulls_last = "LAST" in (w.upper() for w in words[2:]) if len(words) > 2 else desc
            present = sorted((r for r in rows if r.get(f.name) is not None), key=lambda r: r[f.name], reverse=desc)
            absent = [r for r in rows if r.get(f.name) is None]
            rows = present + absent if nulls_last else absent + present
    offset = int(match.group("offset") or 0)
    limit = int(match.group("limit")) if match.group("limit") else None
    rows = rows[offset:] if limit is None else rows[offset:offset + limit]
    return sobject, selected, rows


def where(text: str, field):
    tokens = [next(g for g in m.groupdict().values() if g is not None) for m in TOKEN.finditer(text)
              if m.group(0).strip()]
    conditions: list[list[str]] = [[]]
    joins, depth = set(), 0
    for i, token in enumerate(tokens):
        if token == "(":
            if i == 0 or tokens[i - 1].upper() != "IN":
                raise SalesforceError(400, "MALFORMED_QUERY", "unexpected token: '(' (the sandbox does not "
                                      "understand parentheses around conditions)")
            depth += 1
        elif token == ")":
            depth -= 1
        if depth == 0 and token.upper() in ("AND", "OR"):
            joins.add(token.upper())
            conditions.append([])
        else:
            conditions[-1].append(token)
    if len(joins) > 1:
        raise SalesforceError(400, "MALFORMED_QUERY", "unexpected token: OR (mix AND and OR only with "
                              "parentheses, which the sandbox does not understand)")
    tests = [condition(c, field) for c in conditions]
    if joins == {"OR"}:
        return lambda r: any(t(r) for t in tests)
    return lambda r: all(t(r) for t in tests)


def condition(tokens: list[str], field):
    if len(tokens) < 3:
        raise SalesforceError(400, "MALFORMED_QUERY", f"unexpected token: {' '.join(tokens)!r}")
    f, op = field(tokens[0]), tokens[1].upper()
    if op == "IN":
        values = [literal(t, f) for t in tokens[2:] if t not in ("(", ")", ",")]
        return lambda r: r.get(f.name) in values
    if len(tokens) != 3:
        raise SalesforceError(400, "MALFORMED_QUERY", f"unexpected token: {tokens[3]!r}")
    value = literal(tokens[2], f)
    if op == "LIKE":
        pattern = str(value).lower().replace("%", "*").replace("_", "?")
        return lambda r: r.get(f.name) is not None and fnmatchcase(str(r[f.name]).lower(), pattern)
    compare = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<>": lambda a, b: a != b,
               "<": lambda a, b: a is not None and a < b, "<=": lambda a, b: a is not None and a <= b,
               ">": lambda a, b: a is not None and a > b, ">=": lambda a, b: a is not None and a >= b}.get(op)
    if compare is None:
        raise SalesforceError(400, "MALFORMED_QUERY", f"unexpected token: {tokens[1]!r}")
    if value is None and op not in ("=", "!=", "<>"):
        raise SalesforceError(400, "MALFORMED_QUERY", "null can only be compared with = or !=")
    return lambda r: compare(r.get(f.name), value)


def literal(token: str, f):
    """A SOQL literal as the field's stored type; quoting must match the type, as in Salesforce."""
    low = token.lower()
    if low == "null":
        return None
    if f.type == "datetime":
        if not DATETIME.match(token):
            raise SalesforceError(400, "INVALID_FIELD", f"value of filter criterion for field '{f.name}' must be of "
                                  "type dateTime and should not be enclosed in quotes")
        return parse_time(re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", token))
    if f.type == "date":
        if not DATE.match(token):
            raise SalesforceError(400, "INVALID_FIELD", f"value of filter criterion for field '{f.name}' must be of "
                                  "type date and should not be enclosed in quotes")
        return token
    if f.type == "boolean":
        if low not in ("true", "false"):
            raise SalesforceError(400, "INVALID_FIELD", f"value of filter criterion for field '{f.name}' must be "
                                  "of type boolean and should not be enclosed in quotes")
        return low == "true"
    if f.type in ("int", "currency", "percent", "double"):
        try:
            return float(token)
        except ValueError:
            raise SalesforceError(400, "INVALID_FIELD", f"value of filter criterion for field '{f.name}' must be "
                                  "of type double and should not be enclosed in quotes") from None
    if not (token.startswith("'") and token.endswith("'") and len(token) >= 2):
        raise SalesforceError(400, "MALFORMED_QUERY", f"unexpected token: {token!r} (text values are quoted)")
    return re.sub(r"\\(.)", r"\1", token[1:-1])
