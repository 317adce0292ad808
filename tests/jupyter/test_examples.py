"""The notebooks in examples/ run top to bottom in a real kernel under nbval.

Cells marked `# NBVAL_CHECK_OUTPUT` must give their stored output (the quickstart's
`r["customers"].shape` is the sandbox's 3,421 customers, the manufacturing notebook's runs move
350 rows, then 10); the rest must run without error. The same check by hand:
`pytest --nbval-lax examples/`.

The manufacturing notebook starts its own PostgreSQL server: it is skipped only when the server
binaries are absent and CI is not set (as in tests/databases/conftest.py).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "examples").glob("*.ipynb"))


pytestmark = pytest.mark.slow


NEEDS = {"manufacturing": "require_postgres"}  # fixtures a notebook needs


@pytest.mark.skipif(importlib.util.find_spec("nbval") is None, reason="nbval missing: scripts/browser-up.sh")
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_example_notebook_runs_under_nbval(notebook, tmp_path, request):
    if notebook.stem in NEEDS:
        request.getfixturevalue(NEEDS[notebook.stem])
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q", str(notebook),
         "--rootdir", str(tmp_path)],
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
