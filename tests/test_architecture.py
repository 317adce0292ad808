"""The house keeps its shape: import arrows point one way, modules stay readable in one sitting,
and every error a user can meet says what to do next.

    purelink_jupyter  ->  purelink  ->  purelink.runtime  ->  httpx, duckdb, pyarrow (adbc optional)

Read statically (every `import`, also the lazy ones inside functions) and checked once for real
in a fresh interpreter. See docs/architecture.md for the rooms and what each may import.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import purelink
import purelink_jupyter
from purelink.errors import PurelinkError, RuntimeFailure

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (ROOT / "purelink", ROOT / "purelink_jupyter")
MAX_LINES = 400
RUNTIME_DEPENDENCIES = {"httpx", "orjson", "duckdb", "pyarrow", "adbc_driver_postgresql",  # adbc: optional
                        "google", "pyiceberg",  # optional, imported inside the BigQuery / Iceberg destinations
                        "httpcore"}  # httpx's own transport, installed with it (see purelink.runtime.lean)
HANDOVER = ROOT / "purelink" / "__init__.py"  # `%load_ext purelink` hands over to the notebook layer


def modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in package.rglob("*.py"))


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, lazy ones included."""
    found = []
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def top(name: str) -> str:
    return name.split(".")[0]


def test_the_engine_never_imports_the_notebook_layer():
    wrong = [f"{rel(p)}:{line} imports {name}" for p in (ROOT / "purelink").rglob("*.py") if p != HANDOVER
             for line, name in imports(p) if top(name) == "purelink_jupyter"]
    assert wrong == []


def test_the_only_arrow_back_is_the_ipython_extension_handover():
    tree = ast.parse(HANDOVER.read_text())
    for line, name in imports(HANDOVER):
        if top(name) != "purelink_jupyter":
            continue
        owner = next(f.name for f in tree.body if isinstance(f, ast.FunctionDef)
                     and f.lineno <= line <= f.end_lineno)
        assert owner in ("load_ipython_extension", "unload_ipython_extension")


BUILDING_BLOCKS = ("catalog", "discovery", "pipeline", "execution", "secrets", "sandbox", "storage")
ABOVE = ("engine", "cli", "wizard", "assistant")


def main_guarded(path: Path) -> set[int]:
    """Lines inside `if __name__ == "__main__":` (a `python -m` entry point handing over to the CLI)."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            lines |= set(range(node.lineno, node.end_lineno + 1))
    return lines


def test_building_blocks_never_import_the_rooms_above_them():
    wrong = []
    for room in BUILDING_BLOCKS:
        for path in (ROOT / "purelink" / room).rglob("*.py"):
            if path.name == "__main__.py":  # `python -m purelink.<room>`: an entry point
                continue
            guarded = main_guarded(path)
            wrong += [f"{rel(path)}:{line} imports {name}" for line, name in imports(path)
                      if name.split(".")[:2][-1] in ABOVE and top(name) == "purelink" and line not in guarded]
    assert wrong == []


def test_the_runtime_imports_only_itself_the_standard_library_and_its_own_dependencies():
    wrong = []
    for path in (ROOT / "purelink" / "runtime").rglob("*.py"):
        for line, name in imports(path):
            allowed = (name == "purelink.runtime" or name.startswith("purelink.runtime.")
                       or top(name) in sys.stdlib_module_names or top(name) in RUNTIME_DEPENDENCIES
                       or name == "__future__")
            if not allowed:
                wrong.append(f"{rel(path)}:{line} imports {name}")
    assert wrong == []


def test_importing_the_runtime_loads_nothing_else_of_purelink():
    """What a container does: the generated module imports purelink.runtime and nothing more."""
    code = ("import pkgutil, importlib, sys, purelink.runtime as r\n"
            "for m in pkgutil.walk_packages(r.__path__, 'purelink.runtime.'):\n"
            "    importlib.import_module(m.name)\n"
            "print('\\n'.join(sorted(n for n in sys.modules if n.startswith(('purelink', 'IPython')))))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          check=True, timeout=300)
    loaded = done.stdout.split()
    assert "purelink.runtime.pipeline" in loaded
    assert [m for m in loaded if m != "purelink" and not m.startswith("purelink.runtime")] == []


@pytest.mark.parametrize("path", modules(), ids=rel)
def test_no_module_is_longer_than_one_sitting(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{rel(path)} has {lines} lines: split it by idea (see docs/architecture.md)"


def every_exception() -> list[type[RuntimeFailure]]:
    for package in (purelink, purelink_jupyter):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not info.name.endswith("__main__"):
                importlib.import_module(info.name)
    found, todo = [], [RuntimeFailure]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return sorted(set(found), key=lambda c: c.__name__)


def test_the_public_exceptions_are_one_hierarchy_exported_from_purelink():
    assert issubclass(purelink.PurelinkError, purelink.RuntimeFailure)
    assert purelink.DatabaseBusy is importlib.import_module("purelink.runtime.errors").DatabaseBusy
    for name in ("RuntimeFailure", "PurelinkError", "DatabaseBusy", "RecipeError", "SourceError",
                 "CredentialError", "ExecutionError", "Engine", "run"):
        assert name in purelink.__all__ and getattr(purelink, name) is not None
    assert inspect.signature(purelink.run) == inspect.signature(importlib.import_module("purelink.engine").run)


@pytest.mark.parametrize("cls", every_exception(), ids=lambda c: c.__name__)
def test_every_exception_carries_and_shows_guidance(cls):
    error = cls("The thing failed.", "Do this next.")
    assert error.message == "The thing failed." and error.guidance == "Do this next."
    assert "Do this next." in str(error) and error.paragraph() == "The thing failed.\nDo this next."


def test_every_raise_of_a_purelink_exception_passes_guidance():
    """A message alone tells what went wrong; the guidance is what the user does next."""
    names = {c.__name__ for c in every_exception()}
    missing = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            func = node.exc.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name not in names or any(isinstance(a, ast.Starred) for a in node.exc.args):
                continue
            given = len(node.exc.args) + sum(k.arg == "guidance" for k in node.exc.keywords)
            if given < 2:
                missing.append(f"{rel(path)}:{node.lineno} raise {name}(...) without guidance")
    assert missing == []


def test_the_command_line_prints_the_guidance_as_one_paragraph(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PURELINK_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-m", "purelink.cli", "--workspace", str(tmp_path),
                           "recipes", "show", "nothing_here"], capture_output=True, text=True, env=env,
                          check=False, timeout=300)
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and len(lines) == 2, done.stderr  # what happened, what to do
    assert "Traceback" not in done.stderr


def test_the_engine_errors_are_purelink_errors():
    names = {c.__name__ for c in every_exception()}
    assert {"RecipeError", "SourceError", "CredentialError", "ExecutionError", "SessionError"} <= names
    assert all(issubclass(c, PurelinkError) for c in every_exception()
               if c.__module__.split(".")[1] != "runtime" and c is not RuntimeFailure)


def test_both_packages_ship_py_typed_and_declare_it():
    pyproject = (ROOT / "pyproject.toml").read_text()
    for package in PACKAGES:
        assert (package / "py.typed").is_file()
        assert f'{package.name} = ["py.typed"' in pyproject
