"""Fixtures shared by every test folder: the sandbox API over real HTTP, a private vault and
workspace, and a real PostgreSQL server (started once per session by scripts/postgres-up.sh;
skipped only when the server binaries are absent and CI is not set)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from purelink.sandbox import serve

FIXTURES = Path(__file__).parent / "fixtures"

def duckdb_rows(db: Path, sql: str) -> list[tuple]:
    """`sql`'s rows from a DuckDB file opened read-only, closed again before returning."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def customers_recipe(workspace: Path, api, name: str, rate_limit: float):
    """(engine, saved recipe) reading the sandbox's customers from 2020 at `rate_limit` requests/s."""
    from purelink.engine import Engine
    from purelink.recipes import parse_recipe

    engine = Engine(workspace)
    return engine, engine.recipes.save(parse_recipe(
        f"name: {name}\nsource: {{name: stripe, base_url: '{api.stripe_base_url}'}}\n"
        f"streams: [{{name: customers}}]\nrequirements: {{history_start: 2020-01-01, rate_limit: {rate_limit}}}\n"))


# A shell that starts a command in the background (`.ci/run &`, nohup, many CI launchers) starts it
# with SIGINT ignored, Python keeps it so, and every process the tests start inherits it: their
# Ctrl-C tests would then wait for an interrupt nobody can deliver. The tests act as a terminal does.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def sandbox():
    """The default sandbox (seed 0, 3,421 customers), shared by the session: do not mutate it."""
    with serve(seed=0) as s:
        yield s


@pytest.fixture(scope="module")
def small_sandbox():
    """A sandbox of 150 customers for one test module, where counts are checked by hand."""
    with serve(seed=0, customers=150) as s:
        yield s


@pytest.fixture
def sandbox_factory():
    """Start sandboxes with their own options (faults, sizes); stopped after the test."""
    started = []

    def make(**options):
        s = serve(**options)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


PG_BIN = Path(os.environ.get("PURELINK_PG_BIN", "/usr/lib/postgresql/15/bin"))


@pytest.fixture(scope="session")
def require_postgres() -> None:
    """Skip without PostgreSQL server binaries and the ADBC driver, except in CI, where a missing
    server is a failure."""
    if not (PG_BIN / "initdb").exists() and not shutil.which("pg_config"):
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL server binaries are missing ({PG_BIN}); CI needs them")
        pytest.skip("PostgreSQL server binaries are not installed")
    if not os.environ.get("CI"):
        pytest.importorskip("adbc_driver_postgresql")


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    """Vault and per-user state in a temporary folder; no OS keyring; no Stripe key in the environment."""
    monkeypatch.setenv("PURELINK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PURELINK_VAULT_KEYRING", "0")
    for var in ("STRIPE_API_KEY", "PURELINK_WORKSPACE", "PURELINK_BASE_URL", "SANDBOX_PAYMENTS_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "home"


@pytest.fixture
def demo_port():
    """For tests of `purelink demo`, whose sandbox takes port 12111 when free and whose printed
    next step (`purelink sandbox --port 12111`) expects it free again: one such test at a time on
    this machine (a lock other test sessions see too; mark them xdist_group("demo-port") as well,
    so this session's workers do not wait on each other)."""
    import fcntl

    with open(f"/tmp/purelink-demo-port-{os.getuid()}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture
def workspace(tmp_path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


@pytest.fixture
def openapi_doc() -> Path:
    return FIXTURES / "sandbox_openapi.yaml"


ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "postgres-up.sh"


@dataclass
class Server:
    host: str
    port: int
    user: str
    password: str
    directory: str

    def url(self, database: str = "postgres") -> str:
        """Connection URL without the password, as recipes hold it."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def connect(self, database: str = "postgres", autocommit: bool = False):
        from adbc_driver_postgresql import dbapi

        from purelink.runtime.pg import connection_uri

        return dbapi.connect(connection_uri(self.url(database), self.password, database), autocommit=autocommit)

    def execute(self, database: str, *statements: str) -> None:
        con = self.connect(database)
        cur = con.cursor()
        for statement in statements:
            cur.execute(statement)
        con.commit()
        con.close()

    def query(self, database: str, sql: str) -> list[tuple]:
        con = self.connect(database)
        cur = con.cursor()
        cur.execute(sql)
        rows = cur.fetchall()
        con.close()
        return rows

    def create_database(self, prefix: str = "db") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        con = self.connect(autocommit=True)
        con.cursor().execute(f'CREATE DATABASE "{name}"')
        con.close()
        return name


@pytest.fixture(scope="session")
def postgres(tmp_path_factory, require_postgres) -> Server:
    out = subprocess.run(["bash", str(SCRIPT), "start"], check=False, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                         timeout=120)
    if out.returncode != 0:
        pytest.fail(f"postgres-up.sh failed: {out.stderr}")
    env = dict(line.removeprefix("export ").split("=", 1) for line in out.stdout.splitlines()
               if line.startswith("export "))
    env = {k: v.strip("'") for k, v in env.items()}
    server = Server(env["PGHOST"], int(env["PGPORT"]), env["PGUSER"], env["PGPASSWORD"], env["PURELINK_PG_DIR"])
    yield server
    subprocess.run(["bash", str(SCRIPT), "stop", server.directory], check=False, capture_output=True, timeout=120)


def _parse_server(stdout: str) -> Server:
    env = dict(line.removeprefix("export ").split("=", 1) for line in stdout.splitlines() if line.startswith("export "))
    env = {k: v.strip("'") for k, v in env.items()}
    return Server(env["PGHOST"], int(env["PGPORT"]), env["PGUSER"], env["PGPASSWORD"], env["PURELINK_PG_DIR"])


@pytest.fixture(scope="module")
def postgres_servers(require_postgres):
    """`start(n)` starts n more clusters at once (each on its own port, with its own password), for
    jobs that read several servers; all are stopped when the test module ends."""
    started: list[Server] = []

    def start(n: int) -> list[Server]:
        procs = [subprocess.Popen(["bash", str(SCRIPT), "start"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, text=True) for _ in range(n)]
        servers, errors = [], []
        for proc in procs:
            out, err = proc.communicate(timeout=180)
            if proc.returncode == 0:
                servers.append(_parse_server(out))
            else:
                errors.append(err)
        started.extend(servers)
        if errors:
            pytest.fail("postgres-up.sh failed: " + "\n".join(errors))
        return servers

    yield start
    for server in started:
        subprocess.run(["bash", str(SCRIPT), "stop", server.directory], check=False, capture_output=True, timeout=120)


@pytest.fixture
def db(postgres) -> str:
    """A fresh, empty source database for one test."""
    return postgres.create_database("src")


@pytest.fixture
def secrets_env(postgres, monkeypatch):
    """Passwords where generated pipelines read them (environment variables by secret name)."""
    monkeypatch.setenv("PGPASSWORD", postgres.password)
    monkeypatch.setenv("WAREHOUSE_PASSWORD", postgres.password)
    return {**os.environ, "PGPASSWORD": postgres.password, "WAREHOUSE_PASSWORD": postgres.password,
            "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def run_module(secrets_env):
    """Run a pipeline module as a user does: a subprocess, passwords in its environment."""

    def run(path: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(path), *args], check=False, capture_output=True, text=True,
                              env=secrets_env, timeout=300, stdin=subprocess.DEVNULL)

    return run


# -- parallel runs (pytest-xdist) -------------------------------------------------------------
# Under `-n N` each worker checks, when its session ends, that it left none of its own containers
# (tests/execution/conftest.py). A container whose starting process died (a killed `purelink`
# command) carries a dead pid, so no worker can tell whose it was while the others still run:
# the process that started the workers counts those once, after every worker is done.

_BEFORE = pytest.StashKey[set]()


def _parallel_controller(config) -> bool:
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", None))


def _purelink_containers() -> list | None:
    from purelink.execution.docker import docker_available
    from purelink.execution.images import docker_client

    if not docker_available(refresh=True):
        return None
    return docker_client().containers.list(all=True, filters={"label": "purelink=1"}, ignore_removed=True)


def pytest_sessionstart(session):
    if _parallel_controller(session.config):
        # Containers of other sessions on this engine (other users, other checkouts) are theirs.
        session.config.stash[_BEFORE] = {c.id for c in _purelink_containers() or []}


def pytest_sessionfinish(session, exitstatus):
    if not _parallel_controller(session.config) or _BEFORE not in session.config.stash:
        return
    from purelink.execution.docker.watchdog import orphan

    before = session.config.stash[_BEFORE]
    left = [c for c in _purelink_containers() or [] if c.id not in before and orphan(c.labels)]
    for container in left:
        container.remove(force=True)
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = f"containers left behind by the tests (their process is gone): {[c.name for c in left]}"
        if reporter is not None:
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

