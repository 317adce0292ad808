"""What arrived in warehouse.raw: rows per source, pass rates per production line and per material.

    python examples/manufacturing/check.py     # with PGHOST, PGPORT, PGPASSWORD set
"""

from __future__ import annotations

SOURCES = ("refills", "bodies", "springs")
METADATA = ("_airbyte_raw_id", "_airbyte_extracted_at", "_airbyte_meta", "_airbyte_generation_id",
            "_airbyte_ab_id", "_airbyte_emitted_at")


def table(name: str) -> str:
    """Where a plant's `production` table lands: the recipe's default for a server's stream."""
    return f"{name}_production"


# The three tables share the columns the plants agree on; the check reads only those.
UNION = " UNION ALL ".join(
    f"SELECT '{name}' AS source, production_line, material, quality_status::text AS status FROM raw.{table(name)}"
    for name in SOURCES)


def rows(cur, sql: str) -> list[tuple]:
    cur.execute(sql)
    return cur.fetchall()


def rate_table(title: str, data: list[tuple]) -> None:
    print(f"\n{title:<34} {'rows':>5} {'passed':>7} {'pass rate':>10}")
    for label, total, passed in data:
        print(f"  {label:<32} {total:>5} {passed:>7} {passed / total:>10.1%}")


def check(con) -> dict:
    cur = con.cursor()
    counts = {name: rows(cur, f"SELECT count(*) FROM raw.{table(name)}")[0][0] for name in SOURCES}
    print(f"{'source':<12} {'rows':>5}  table                   metadata columns")
    for name, n in counts.items():
        present = {r[0] for r in rows(cur, "SELECT column_name FROM information_schema.columns "
                                           f"WHERE table_schema = 'raw' AND table_name = '{table(name)}'")}
        missing = [c for c in METADATA if c not in present]
        status = f"all {len(METADATA)} Airbyte columns" if not missing else "missing " + ", ".join(missing)
        print(f"  {name:<10} {n:>5}  raw.{table(name):<19} {status}")
    print(f"  {'total':<10} {sum(counts.values()):>5}")
    passed = "count(*) FILTER (WHERE status = 'passed')"
    by_line = rows(cur, f"SELECT source || ' / ' || production_line, count(*), {passed} FROM ({UNION}) u "
                        "GROUP BY source, production_line ORDER BY source, production_line")
    by_material = rows(cur, f"SELECT source || ' / ' || material, count(*), {passed} FROM ({UNION}) u "
                            "GROUP BY source, material ORDER BY source, material")
    rate_table("pass rate per production line", by_line)
    rate_table("pass rate per material", by_material)
    con.close()
    return {"counts": counts, "by_line": by_line, "by_material": by_material}


if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import connect, server_env

    server_env()
    check(connect("warehouse"))
