"""The manufacturing example, as its README runs it: 350 rows into warehouse.raw, then exactly the 10 changed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "manufacturing" / "run.py"


@pytest.fixture
def example(postgres, tmp_path, secrets_env):
    env = {**secrets_env, "PGHOST": postgres.host, "PGPORT": str(postgres.port), "PGUSER": postgres.user}
    env.pop("WAREHOUSE_PASSWORD")  # the example falls back to PGPASSWORD, as its README says

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, str(EXAMPLE), *args, "--workspace", str(tmp_path / "ws")],
                              check=False, capture_output=True, text=True, env=env, timeout=300,
                              stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    return run


@pytest.mark.slow
def test_manufacturing_sync_check_and_incremental(example, postgres):
    out = example("all")
    assert "sync    success: 350 rows moved" in out
    assert re.search(r"refills\s+100\s+all 5 Airbyte columns", out)
    assert re.search(r"bodies\s+100\s+all 5 Airbyte columns", out)
    assert re.search(r"springs\s+150\s+all 5 Airbyte columns", out)
    assert re.search(r"total\s+350", out)
    assert "pass rate per production line" in out and "springs / SP-coiler-3" in out
    assert "pass rate per material" in out and "bodies / aluminium" in out
    nulls = postgres.query("warehouse", "SELECT count(*) FROM raw.springs WHERE _airbyte_raw_id IS NULL "
                                        "OR _airbyte_extracted_at IS NULL OR _airbyte_meta IS NULL")
    assert nulls == [(0,)]

    before = dict(postgres.query("warehouse", "SELECT id, _airbyte_raw_id FROM raw.springs"))
    example("touch", "10")
    out = example("sync")
    assert "sync    success: 10 rows moved" in out
    assert "'springs.public.springs': 10" in out and "'refills.public.refills': 0" in out
    after = dict(postgres.query("warehouse", "SELECT id, _airbyte_raw_id FROM raw.springs"))
    assert len(after) == 150
    changed = {i for i in after if after[i] != before[i]}
    assert changed == set(range(1, 11))  # exactly the ten re-inspected springs were loaded again
    assert postgres.query("warehouse", "SELECT count(*) FROM raw.springs s WHERE s.id <= 10") == [(10,)]
