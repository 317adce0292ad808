"""The manufacturing example, end to end: three plant servers -> one recipe -> warehouse.raw.

    eval "$(scripts/postgres-up.sh)"          # one throwaway server; sets PGHOST, PGPORT, PGPASSWORD
    python examples/manufacturing/run.py all  # setup, sync, check
    python examples/manufacturing/run.py touch 10 && python examples/manufacturing/run.py sync

Each plant is its own server: REFILLS_, BODIES_, SPRINGS_ and WAREHOUSE_ + HOST / PORT / PASSWORD
say where (a plant without them uses PGHOST, PGPORT, PGPASSWORD: with one server, the four
databases live side by side). Steps: `setup` creates on each plant server the database of that
plant with its table `production` (from data/manufacturing/*.sql) and an empty warehouse; `sync`
saves the library recipe recipes/manufacturing/recipe.yaml into the workspace and runs it; `touch N` updates N springs (a
re-inspection), so the next `sync` moves exactly those; `check` prints what arrived.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]  # the recipe and the plants' SQL are shipped at the top: recipes/, data/
SOURCES = ("refills", "bodies", "springs")
SERVERS = (*SOURCES, "warehouse")  # each server's only database is named after it
RECIPE = ROOT / "recipes" / "manufacturing" / "recipe.yaml"


def server_env() -> None:
    """REFILLS_HOST, REFILLS_PORT, REFILLS_PASSWORD ... for each server, from PG* where not given."""
    for name in SERVERS:
        for part in ("HOST", "PORT", "PASSWORD"):
            os.environ.setdefault(f"{name.upper()}_{part}", os.environ.get(f"PG{part}", ""))


def connect(server: str, database: str | None = None, autocommit: bool = False):
    from adbc_driver_postgresql import dbapi

    from purelink.runtime.pg import connection_uri

    env = {part: os.environ[f"{server.upper()}_{part}"] for part in ("HOST", "PORT", "PASSWORD")}
    url = f"postgresql://{os.environ.get('PGUSER', 'postgres')}@{env['HOST']}:{env['PORT']}/"
    return dbapi.connect(connection_uri(url, env["PASSWORD"], database or server), autocommit=autocommit)


def setup() -> None:
    for name in SERVERS:
        admin = connect(name, "postgres", autocommit=True)
        cur = admin.cursor()
        cur.execute("SELECT 1 FROM pg_database WHERE datname = $1", parameters=[name])
        if cur.fetchall():
            cur.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
        admin.close()
    for name in SOURCES:
        con = connect(name)
        cur = con.cursor()
        # ADBC prepares each statement, so the file is sent one statement at a time.
        for statement in (ROOT / "data" / "manufacturing" / f"{name}.sql").read_text().split(";\n"):
            if statement.strip() and not all(line.startswith("--") for line in statement.strip().splitlines()):
                cur.execute(statement)
        con.commit()
        cur.execute("SELECT count(*) FROM production")
        print(f"setup   {name:<8} {cur.fetchone()[0]:>4} rows in production")
        con.close()


def sync(workspace: Path) -> dict:
    from purelink.engine import Engine
    from purelink.recipes import parse_recipe

    engine = Engine(workspace)
    recipe = parse_recipe(os.path.expandvars(RECIPE.read_text()), origin=str(RECIPE))
    recipe = engine.recipes.save(recipe)
    result = engine.execute(recipe, executor="local")
    done = result.finished or {}
    moved = {name: s.get("records", 0) for name, s in (done.get("streams") or {}).items()}
    print(f"sync    {done.get('status', 'failed')}: {done.get('records', 0)} rows moved {moved}")
    if not result.ok:
        print("\n".join(result.output[-10:]) or done.get("error"), file=sys.stderr)
        raise SystemExit(1)
    return done


def touch(n: int) -> None:
    """Re-inspect n springs: their status flips and updated_at moves, nothing else changes."""
    con = connect("springs")
    cur = con.cursor()
    cur.execute(
        "UPDATE production SET quality_status = CASE quality_status WHEN 'passed' THEN 'failed' ELSE 'passed' "
        "END::quality_status, updated_at = now() WHERE id IN (SELECT id FROM production ORDER BY id LIMIT $1)",
        parameters=[n])
    con.commit()
    con.close()
    print(f"touch   {n} springs re-inspected")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["all", "setup", "sync", "touch", "check"])
    parser.add_argument("n", nargs="?", type=int, default=10, help="rows to touch")
    parser.add_argument("--workspace", type=Path, default=Path(os.environ.get("PURELINK_WORKSPACE", "."))
                        / "manufacturing-workspace")
    args = parser.parse_args()
    server_env()
    if not all(os.environ[f"{name.upper()}_PORT"] for name in SERVERS):
        raise SystemExit('Start a server first: eval "$(scripts/postgres-up.sh)"')
    if args.step in ("all", "setup"):
        setup()
    if args.step in ("all", "sync"):
        sync(args.workspace)
    if args.step == "touch":
        touch(args.n)
    if args.step in ("all", "check"):
        sys.path.insert(0, str(HERE))
        from check import check

        check(connect("warehouse"))


if __name__ == "__main__":
    main()
