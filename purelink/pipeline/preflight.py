"""Pre-flight checks on a generated module, before anything runs it.

    for check in preflight(module, spec=spec, workspace=ws, secret=key, base_url=url):
        print(check.status, check.name, check.detail)

Five checks, each PASS, WARN or FAIL with the reason: the module parses and compiles; ruff finds
nothing wrong (WARN when ruff is not installed); the packages it imports are importable here;
the DDL in `schemas/NAME.sql` creates its tables in a scratch DuckDB; the key passes one real
request to the spec's health check.
"""

from __future__ import annotations

import ast
import importlib.util
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import httpx

from purelink.catalog.spec import ConnectorSpec
from purelink.workspace import Workspace

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
REQUIRED = ("httpx", "duckdb", "pyarrow")
FATAL_LINT = ("F821", "F822", "F823", "E902", "E999", "invalid-syntax")


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # PASS, WARN or FAIL
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"[{self.status}] {self.name}: {self.detail}"


def check_syntax(module: Path) -> Check:
    source = module.read_text()
    try:
        compile(ast.parse(source, filename=str(module)), str(module), "exec")
    except SyntaxError as exc:
        return Check("syntax", FAIL, f"line {exc.lineno}: {exc.msg}")
    return Check("syntax", PASS, f"parses and compiles ({len(source.splitlines())} lines)")


def _ruff() -> list[str] | None:
    exe = shutil.which("ruff")
    if exe:
        return [exe]
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    return None


def check_lint(module: Path) -> Check:
    ruff = _ruff()
    if ruff is None:
        return Check("lint", WARN, "ruff is not installed, so the module was not linted (pip install ruff)")
    # --isolated: the user's project settings must not decide whether generated code passes;
    # 110 columns, as purelink's own code
    cmd = [*ruff, "check", "--isolated", "--no-cache", "--line-length", "110", "--output-format", "concise",
           str(module)]
    try:
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("lint", WARN, f"ruff could not run: {type(exc).__name__}")
    if done.returncode == 0:
        return Check("lint", PASS, "ruff: no issues")
    issues = [line.split(": ", 1)[-1] for line in done.stdout.splitlines() if module.name in line]
    if done.returncode != 1 or not issues:
        return Check("lint", WARN, f"ruff failed: {(done.stderr or done.stdout).strip()[:200]}")
    status = FAIL if any(code in issue for issue in issues for code in FATAL_LINT) else WARN
    return Check("lint", status, f"ruff: {len(issues)} issue(s), first: {issues[0]}")


def imported_modules(module: Path) -> list[str]:
    """The modules a file imports at its top (absolute imports only)."""
    names = []
    for node in ast.parse(module.read_text()).body:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return list(dict.fromkeys(names))


def check_packages(module: Path, extras: tuple[str, ...] = ()) -> Check:
    wanted = list(dict.fromkeys([*REQUIRED, *imported_modules(module), *extras]))
    missing = []
    for name in wanted:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    if missing:
        return Check("packages", FAIL, f"not importable here: {', '.join(missing)} "
                     f"(pip install {' '.join(m.split('.')[0] for m in missing)})")
    return Check("packages", PASS, f"importable: {', '.join(wanted)}")


def check_schema(schema_files: list[Path]) -> Check:
    present = [p for p in schema_files if p.is_file()]
    absent = [p.name for p in schema_files if not p.is_file()]
    if not present:
        return Check("schema", WARN, "no schemas/*.sql for these streams yet (the schema step writes them)")
    con = duckdb.connect()
    try:
        for path in present:
            try:
                con.execute(path.read_text())
            except duckdb.Error as exc:
                return Check("schema", FAIL, f"{path.name}: {str(exc).splitlines()[0]}")
        tables = con.execute("SELECT schema_name || '.' || table_name FROM duckdb_tables() "
                             "ORDER BY 1").fetchall()
    finally:
        con.close()
    detail = f"created in a scratch DuckDB: {', '.join(t for (t,) in tables)}"
    if absent:
        return Check("schema", WARN, f"{detail}; no DDL for {', '.join(absent)}")
    return Check("schema", PASS, detail)


def health_check(spec: ConnectorSpec, secret: str | None, *, base_url: str | None = None,
                 password: str | None = None):
    """One real request to the spec's health check; returns `purelink.secrets.keychecks.HealthCheck`."""
    from purelink.discovery.probe import request_auth
    from purelink.secrets.keychecks import classify_health_check

    url = (base_url or spec.base_url or "").rstrip("/")
    hc = spec.health_check
    path, params = (hc.path, dict(hc.params)) if hc else (spec.streams[0].path, {})
    headers, auth_params = request_auth(spec, secret, password=password)
    host = httpx.URL(url).host if url else None
    try:
        response = httpx.get(f"{url}/{path.lstrip('/')}", params={**params, **auth_params},
                             headers={"User-Agent": "purelink", **spec.headers, **headers}, timeout=15)
        outcome = response.status_code
    except httpx.HTTPError as exc:
        outcome = exc
    return classify_health_check(outcome, source_title=spec.title, host=host,
                                 dashboard_hint=spec.auth.guidance.dashboard_url)


def check_credentials(spec: ConnectorSpec, secret: str | None, *, base_url: str | None = None) -> Check:
    if spec.auth.style in ("none",):
        return Check("credentials", PASS, f"{spec.title} needs no key")
    if not secret:
        return Check("credentials", WARN, "not checked: no key was given to the pre-flight")
    result = health_check(spec, secret, base_url=base_url)
    if result.kind == "ok":
        return Check("credentials", PASS, result.message)
    status = WARN if result.ok else FAIL
    return Check("credentials", status, f"{result.message} {result.guidance}".strip())


def preflight(module: Path, *, spec: ConnectorSpec, streams: list[str] | None = None,
              workspace: Workspace | str | Path | None = None, secret: str | None = None,
              base_url: str | None = None, extras: tuple[str, ...] = ()) -> list[Check]:
    """All five checks for a generated module; nothing is run but one health-check request."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace.at(workspace)
    names = streams or [s.name for s in spec.streams]
    syntax = check_syntax(module)
    checks = [syntax]
    checks.append(check_lint(module) if syntax.status == PASS
                  else Check("lint", WARN, "skipped: syntax error"))
    checks.append(check_packages(module, extras) if syntax.status == PASS
                  else Check("packages", WARN, "skipped: syntax error"))
    checks.append(check_schema([ws.schemas / f"{spec.name}_{name}.sql" for name in names]))
    checks.append(check_credentials(spec, secret, base_url=base_url))
    return checks
