"""A recipe's settings are never lost: `recipes new` on an existing name refuses or, with
--update, keeps what it does not name; a hand edit becomes the next version, vN never changes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from purelink.recipes import RecipeStore, parse_recipe
from purelink.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
NEW = ["recipes", "new", "pay", "--source", "stripe", "--streams", "customers,charges"]


def cli(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.run(check=False, args=[sys.executable, "-m", "purelink.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def production_recipe(ws: Path) -> None:
    """v1 as the wizard writes it for production: purpose, validations, rate limit, columns."""
    cli(*NEW, "--columns", "customers:id,email", cwd=ws)
    store = RecipeStore(Workspace.at(ws))
    v1 = store.load("pay")
    data = v1.model_dump(mode="json", exclude={"version", "created_at"})
    data["requirements"].update(purpose="production", frequency="daily", rate_limit=50)
    data["streams"][0]["validations"] = [{"kind": "required", "field": "id"}, {"kind": "email", "field": "email"}]
    # through the store, as a program would save it (a new version, v2, the one to keep)
    store.save(parse_recipe(yaml.safe_dump(data)))


def test_recipes_new_on_an_existing_name_refuses_with_guidance(tmp_path):
    production_recipe(tmp_path)
    before = sorted(p.name for p in (tmp_path / "recipes").glob("*.yaml"))
    proc = cli(*NEW, "--history-start", "2025-01-01", cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "exists (v2)" in proc.stderr and "--update" in proc.stderr
    assert sorted(p.name for p in (tmp_path / "recipes").glob("*.yaml")) == before
    # the same command that made it, again: nothing changes, no new version, no refusal
    assert cli(*NEW, "--columns", "customers:id,email", cwd=tmp_path).returncode == 0
    assert sorted(p.name for p in (tmp_path / "recipes").glob("*.yaml")) == before


def test_update_keeps_every_setting_not_named(tmp_path):
    production_recipe(tmp_path)
    store = RecipeStore(Workspace.at(tmp_path))
    v2 = store.load("pay")
    cli("recipes", "new", "pay", "--history-start", "2025-01-01", "--update", cwd=tmp_path)
    v3 = store.load("pay")
    assert v3.version == 3 and v3.requirements.history_start == "2025-01-01"
    expected = v2.content()
    expected["requirements"]["history_start"] = "2025-01-01"
    assert v3.content() == expected  # purpose, frequency, rate limit, validations, columns all kept
    assert v3.requirements.purpose == "production" and len(v3.streams[0].validations) == 2


def test_a_hand_edit_becomes_the_next_version(tmp_path):
    cli(*NEW, cwd=tmp_path)
    v1_path = tmp_path / "recipes" / "pay_v1.yaml"
    original = v1_path.read_text()
    v1_path.write_text(original.replace("purpose: poc", "purpose: production"))
    shown = cli("recipes", "show", "pay", cwd=tmp_path)
    assert "edited by hand" in shown.stderr and "pay_v2.yaml" in shown.stderr
    assert "# purelink recipe pay v2" in shown.stdout and "purpose: production" in shown.stdout
    assert v1_path.read_text() == original  # v1 means what it meant
    store = RecipeStore(Workspace.at(tmp_path))
    assert store.versions("pay") == [1, 2]
    assert store.load("pay", 1).requirements.purpose == "poc"
    assert store.load("pay").requirements.purpose == "production"
    # the adopted version is itself recorded: loading again adds nothing
    assert store.load("pay").version == 2 and store.versions("pay") == [1, 2]


def test_a_recipe_written_before_a_field_was_added_is_not_taken_for_a_hand_edit(tmp_path):
    """A file whose header has the hash an earlier purelink wrote (unset fields as null, no
    request_deadline_s yet) loads as itself: no new version, no note of an edit."""
    import hashlib
    import json

    cli(*NEW, cwd=tmp_path)
    path = tmp_path / "recipes" / "pay_v1.yaml"
    text = path.read_text()
    recipe = parse_recipe(text)
    content = recipe.content()
    del content["requirements"]["request_deadline_s"]
    old = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    assert old != recipe.digest()
    path.write_text(text.replace(recipe.digest(), old))
    shown = cli("recipes", "show", "pay", cwd=tmp_path)
    assert "edited by hand" not in shown.stderr and "# purelink recipe pay v1" in shown.stdout
    assert RecipeStore(Workspace.at(tmp_path)).versions("pay") == [1]
    path.write_text(text.replace(recipe.digest(), old).replace("purpose: poc", "purpose: production"))
    assert "edited by hand" in cli("recipes", "show", "pay", cwd=tmp_path).stderr  # an edit still is one
