"""A recipe as a clean notebook and back (`purelink.pipeline.notebook`)."""

from __future__ import annotations

import json

import nbformat
import pytest

from purelink.errors import RecipeError
from purelink.pipeline.notebook import export_notebook, import_notebook
from purelink.recipes import parse_recipe


@pytest.fixture
def recipe(recipe_text):
    return parse_recipe(recipe_text).model_copy(update={"version": 3, "created_at": "2025-01-02T03:04:05+00:00"})


def test_the_notebook_is_valid_clean_and_holds_the_recipe(recipe, tmp_path):
    path = export_notebook(recipe, tmp_path / "stripe.ipynb")
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.purelink.recipe["name"] == "stripe_customers"
    assert "widgets" not in nb.metadata  # no widget state, so no Password widget value either
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    sources = [c.source for c in code]
    assert sources[0] == "%load_ext purelink"
    assert sources[1].startswith("%%purelink --no-run\nname: stripe_customers\n")
    assert "result = %purelink run stripe_customers" in sources[2]
    assert any("%purelink inspect --tables" in s for s in sources)
    assert any("FROM stripe.customers" in s for s in sources)
    about = nb.cells[0].source
    assert "`stripe.customers`" in about and "`email`" in about and "STRIPE_API_KEY" in about


def test_cell_ids_are_fixed_and_the_file_is_reproducible(recipe, tmp_path):
    a = export_notebook(recipe, tmp_path / "a.ipynb").read_text()
    b = export_notebook(recipe, tmp_path / "b.ipynb").read_text()
    assert a == b
    ids = [c["id"] for c in json.loads(a)["cells"]]
    assert "purelink-pipeline" in ids and len(set(ids)) == len(ids)


def test_it_imports_back_into_the_same_recipe(recipe, tmp_path):
    back = import_notebook(export_notebook(recipe, tmp_path / "r.ipynb"))
    assert back == recipe


def test_an_edited_pipeline_cell_wins_over_the_metadata(recipe, tmp_path):
    path = export_notebook(recipe, tmp_path / "r.ipynb")
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.get("id") == "purelink-pipeline")
    cell.source = cell.source.replace("frequency: once", "frequency: daily")
    nbformat.write(nb, path)
    back = import_notebook(path)
    assert back.requirements.frequency == "daily"
    assert back.version == recipe.version  # saving it makes the next version


def test_no_secret_reaches_the_file(recipe, tmp_path):
    from purelink.secrets import redact

    canary = "sk_test_canary0123456789abcdef"
    redact.register(canary)
    try:
        leaky = recipe.model_copy(update={"description": f"key {canary} pasted by mistake"})
        text = export_notebook(leaky, tmp_path / "leak.ipynb").read_text()
    finally:
        redact.unregister(canary)
    assert canary not in text
    assert "STRIPE_API_KEY" in text  # by name only


def test_relative_paths_land_in_the_workspace(recipe, workspace):
    path = export_notebook(recipe, "notebooks/x.ipynb", workspace=workspace)
    assert path == workspace.root / "notebooks/x.ipynb"


@pytest.mark.parametrize(("content", "says"), [
    (None, "There is no notebook"),
    ("not json", "is not a readable notebook"),
    (json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}), "holds no purelink recipe"),
])
def test_import_errors_say_what_to_do(tmp_path, content, says):
    path = tmp_path / "x.ipynb"
    if content is not None:
        path.write_text(content)
    with pytest.raises(RecipeError, match=says):
        import_notebook(path)


def test_the_command_line_exports_too(saved_recipe, workspace, tmp_path, monkeypatch):
    from purelink.cli import main

    monkeypatch.chdir(workspace.root)
    target = tmp_path / "cli.ipynb"
    assert main(["recipes", "export", "stripe_customers", "--notebook", str(target)]) == 0
    assert import_notebook(target).content() == saved_recipe.content()


def test_a_stream_with_a_table_of_its_own_is_named_and_queried_there(tmp_path):
    # `into:` names the table; given where a run put the rows (Engine.targets), that table wins.
    from IPython.utils._process_common import arg_split

    recipe = parse_recipe("name: mine\nsource: {name: stripe}\nstreams: [{name: customers, into: My Customers}]\n")
    cells = {c.id: c.source for c in nbformat.read(export_notebook(recipe, tmp_path / "a.ipynb"), as_version=4).cells}
    assert "- `stripe.My Customers`: every field" in cells["purelink-about"]
    argv = arg_split(cells["purelink-query"].removeprefix("%purelink "), posix=True)  # as the magic reads it
    assert argv[argv.index("--query") + 1] == 'SELECT count(*) AS records FROM stripe."My Customers"'

    moved = export_notebook(recipe, tmp_path / "b.ipynb", tables={"customers": "stripe.mine_customers"})
    cells = {c.id: c.source for c in nbformat.read(moved, as_version=4).cells}
    assert "`stripe.mine_customers`" in cells["purelink-about"] and "FROM stripe.mine_customers" in cells["purelink-query"]
