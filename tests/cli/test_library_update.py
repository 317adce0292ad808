"""`recipes new NAME --from LIBRARY_RECIPE --update` writes NAME's next version, as `recipes new
--update` does; the same command again keeps that version; without --update it refuses and says how."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from purelink.recipes import RecipeStore
from purelink.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]


def purelink(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "purelink.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300, stdin=subprocess.DEVNULL, check=False)


def test_from_library_with_update_writes_the_next_version(tmp_path):
    made = purelink("recipes", "new", "pay", "--from", "stripe_payments", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    store = RecipeStore(Workspace.at(tmp_path))
    assert store.versions("pay") == [1]

    refused = purelink("recipes", "new", "pay", "--from", "stripe_payments", "--history-start", "2025-01-01",
                       cwd=tmp_path)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "exists already" in refused.stderr and "add --update" in refused.stderr and "v2" in refused.stderr
    assert store.versions("pay") == [1]

    updated = purelink("recipes", "new", "pay", "--from", "stripe_payments", "--history-start", "2025-01-01",
                       "--update", cwd=tmp_path)
    assert updated.returncode == 0, updated.stderr
    assert store.versions("pay") == [1, 2]
    v1, v2 = store.load("pay", 1), store.load("pay", 2)
    assert v2.requirements.history_start == "2025-01-01" and v1.requirements.history_start != "2025-01-01"
    assert [s.name for s in v2.streams] == [s.name for s in v1.streams] == ["customers", "charges"]
    assert "pay_v2.yaml" in updated.stdout and "from the library recipe stripe_payments" in updated.stdout

    again = purelink("recipes", "new", "pay", "--from", "stripe_payments", "--history-start", "2025-01-01",
                     "--update", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert store.versions("pay") == [1, 2] and "pay_v2.yaml unchanged" in again.stdout

    nothing = purelink("recipes", "new", "other", "--from", "stripe_payments", "--update", cwd=tmp_path)
    assert nothing.returncode == 1 and "no recipe other to update" in nothing.stderr
    assert store.versions("other") == []
