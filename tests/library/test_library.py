"""The library itself: every ready recipe is a user's recipe v1 with a README that documents it,
`recipes list --library` shows them all, `recipes new --from` says what is missing, and the
files are found from a checkout and from an installed wheel alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from purelink.catalog.library import library, library_recipe
from purelink.recipes import parse_recipe

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = {"stripe_payments", "salesforce_pipeline", "shopify_orders", "github_issues", "hubspot_contacts",
            "manufacturing", "postgres_schema_to_duckdb"}


def purelink(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "purelink.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, timeout=300,
                          stdin=subprocess.DEVNULL, check=False)


def test_every_ready_recipe_is_a_users_recipe_v1_with_its_readme(readme):
    found = {ready.name: ready for ready in library()}
    assert set(found) == EXPECTED
    for name, ready in found.items():
        assert ready.folder == ROOT / "recipes" / name  # from this checkout
        recipe = parse_recipe(ready.text)
        assert recipe.name == name and recipe.version == 1 and recipe.description
        # exactly what a user's store writes: its own header and digest, byte for byte
        assert recipe.to_yaml() == ready.text, f"recipes/{name}/recipe.yaml is not in the recipe format"
        first, second = readme(name)
        assert first and set(second) == set(first) == {recipe.stream_id(s) for s in recipe.streams}, name
        for placeholder in ready.placeholders:
            assert f"${{{placeholder}}}" in ready.readme, f"{name}'s README does not say what {placeholder} is"


def test_list_library_shows_each_recipe_with_its_one_line_description(tmp_path):
    out = purelink("recipes", "list", "--library", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.strip()}
    for name in EXPECTED:
        assert library_recipe(name).description in lines[name]
    listed = json.loads(purelink("recipes", "list", "--library", "--format", "json", cwd=tmp_path).stdout)
    assert {r["name"] for r in listed} == EXPECTED
    assert not list(tmp_path.iterdir())  # listing the library writes nothing


def test_new_from_says_which_values_are_missing_and_refuses_to_overwrite(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOPIFY_", "PG"))}
    done = subprocess.run([sys.executable, "-m", "purelink.cli", "recipes", "new", "shop", "--from", "shopify_orders"],
                          cwd=tmp_path, capture_output=True, text=True, env={**env, "PYTHONPATH": str(ROOT)},
                          timeout=300, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "SHOPIFY_SHOP" in done.stderr and "--var SHOPIFY_SHOP=" in done.stderr
    assert not (tmp_path / "recipes").exists() or not list((tmp_path / "recipes").glob("*.yaml"))

    made = purelink("recipes", "new", "shop", "--from", "shopify_orders", "--var", "SHOPIFY_SHOP=acme",
                    cwd=tmp_path, env={"SHOPIFY_ACCESS_TOKEN": ""})
    assert made.returncode == 0, made.stderr
    assert "SHOPIFY_ACCESS_TOKEN" in made.stdout and "not set" in made.stdout  # tells how to set its key
    saved = parse_recipe((tmp_path / "recipes" / "shop_v1.yaml").read_text())
    assert saved.name == "shop" and saved.version == 1 and saved.source.variables == {"shop": "acme"}
    assert (tmp_path / "pipelines" / "shop.py").exists()

    again = purelink("recipes", "new", "shop", "--from", "stripe_payments", cwd=tmp_path)
    assert again.returncode != 0 and "exists already" in again.stderr and "Traceback" not in again.stderr
    unknown = purelink("recipes", "new", "x", "--from", "nope", cwd=tmp_path)
    assert unknown.returncode != 0 and "stripe_payments" in unknown.stderr


def test_a_run_in_the_checkout_itself_never_writes_into_the_library():
    from purelink.workspace import Workspace

    ws = Workspace.at(ROOT)
    assert ws.recipes != ROOT / "recipes" and ws.data != ROOT / "data"
    assert ws.root.is_relative_to(ROOT)


@pytest.mark.slow
def test_the_wheel_carries_the_library_and_its_data_and_finds_them(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w",
                            str(tmp_path / "wheel"), str(ROOT)], capture_output=True, text=True, timeout=600,
                           check=False)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    wheel = next((tmp_path / "wheel").glob("purelink_jupyter-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in EXPECTED:
        assert f"purelink/_shipped/recipes/{name}/recipe.yaml" in names
        assert f"purelink/_shipped/recipes/{name}/README.md" in names
    for path in (ROOT / "data").rglob("*"):
        if path.is_file():
            assert f"purelink/_shipped/data/{path.relative_to(ROOT / 'data').as_posix()}" in names
    # Installed (the wheel unpacked where nothing of the checkout is on the path), the package
    # finds its shipped copies, and the sandbox still has its Stripe shapes.
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    code = ("import purelink.shipped as s; from purelink.catalog.library import library; "
            "from purelink.sandbox.stripe_data import templates; "
            "print(s.shipped('recipes')); print(len(library())); print(sorted(templates()))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(tmp_path / "site")}, check=True)
    where, count, shapes = out.stdout.splitlines()
    assert where == str(tmp_path / "site" / "purelink" / "_shipped" / "recipes")
    assert int(count) == len(EXPECTED) and "'customer'" in shapes
