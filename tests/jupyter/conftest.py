"""Fixtures for the notebook layer: a fresh workspace, an IPython shell with `%load_ext purelink`
done, the stripe_customers recipe pointing at the sandbox API (from tests/conftest.py); and for
the end-to-end tests a throwaway JupyterLab (empty token; config, data, runtime and settings in
temp folders) with a page in Debian's chromium driven by playwright (`lab`, `page`). What the
browser tests need is installed by scripts/browser-up.sh."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

RECIPE = """\
name: stripe_customers
description: Stripe customers from the local sandbox API
source: {{name: stripe, base_url: "{base_url}", credential: STRIPE_API_KEY}}
streams:
  - name: customers
    columns: [id, email, name, created, currency, balance, address]
    validations: [{{kind: required, field: id}}]
requirements: {{purpose: poc, frequency: once}}
executor: local
"""


@pytest.fixture(scope="session")
def lab_sandbox():
    """The sandbox for the browser tests: beyond loopback, since the kernel may run pipelines in
    Docker containers (they reach the host as host.docker.internal)."""
    from purelink.sandbox import serve

    with serve(host="0.0.0.0", customers=3421) as api:
        yield api


@pytest.fixture
def stripe_key(sandbox, monkeypatch, tmp_path):
    monkeypatch.setenv("PURELINK_HOME", str(tmp_path / "home"))  # an empty vault of its own
    monkeypatch.setenv("STRIPE_API_KEY", sandbox.api_key)
    return sandbox.api_key


@pytest.fixture
def workspace(tmp_path):
    from purelink.workspace import Workspace

    return Workspace.at(tmp_path / "ws").ensure()


@pytest.fixture
def recipe_text(sandbox):
    return RECIPE.format(base_url=sandbox.stripe_base_url)


@pytest.fixture
def saved_recipe(workspace, recipe_text):
    from purelink.recipes import RecipeStore, parse_recipe

    return RecipeStore(workspace).save(parse_recipe(recipe_text))


@pytest.fixture
def ip(workspace, stripe_key):
    """A terminal-less IPython shell (no kernel: the magics use their text monitor)."""
    from IPython.testing.globalipapp import get_ipython, start_ipython

    shell = start_ipython() or get_ipython()
    # The shell is one per process and keeps `%config Purelink.x = ...` across tests: each test
    # starts from the defaults, whatever ran before it in this process (test order varies).
    shell.config.pop("Purelink", None)
    shell.run_line_magic("load_ext", "purelink")
    shell.run_line_magic("config", f"Purelink.workspace = {str(workspace.root)!r}")
    shell.run_line_magic("config", "Purelink.executor = 'local'")
    yield shell
    shell.run_line_magic("unload_ext", "purelink")
    shell.config.pop("Purelink", None)
    os.chdir(os.path.dirname(__file__))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so a fixture can tell a failure (screenshots)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# -- JupyterLab in Chromium -------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
QUIET_SETTINGS = {  # no news or update toasts over the buttons, no kernel question on opening
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"autoStartDefaultKernel": True},
}


def missing() -> list[str]:
    """What the browser tests need and this machine lacks."""
    import importlib.util

    lacks = [] if Path(CHROMIUM).exists() else ["chromium"]
    lacks += [m for m in ("jupyterlab", "playwright", "ipylab", "ipywidgets") if importlib.util.find_spec(m) is None]
    return lacks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyter_lab(root: Path, env: dict[str, str] | None = None, timeout_s: float = 180,
                log_path: Path | None = None) -> Iterator[str]:
    """Start JupyterLab on a free port serving `root`; yield its URL; stop it. Its log (the server's
    and its kernels' words) goes to `log_path`, else into a temporary folder removed with it."""
    temp = Path(tempfile.mkdtemp(prefix="purelink-lab-"))
    log_path = log_path or temp / "lab.log"
    settings = temp / "settings"
    for name, value in QUIET_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    port = free_port()
    environment = {**os.environ, **(env or {}), "JUPYTER_CONFIG_DIR": str(temp / "config"),
                   "JUPYTER_DATA_DIR": str(temp / "data"), "JUPYTER_RUNTIME_DIR": str(temp / "runtime"),
                   "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(temp / "workspaces"),
                   "PYTHONUNBUFFERED": "1"}
    log = open(log_path, "w")  # noqa: SIM115 - the server writes to it until the finally below
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}",
         "--allow-root", "--LabApp.news_url="],
        cwd=root, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    # The port is free when chosen but may be taken before the server binds it (parallel tests
    # start servers all the time); the server then moves to the next free one and writes the one it
    # holds into its runtime file, which is what we read.
    info = temp / "runtime" / f"jpserver-{proc.pid}.json"
    try:
        deadline = time.monotonic() + timeout_s
        url = None
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited: {log_path.read_text()[-2000:]}")
            if url is None:
                with contextlib.suppress(OSError, ValueError, KeyError):  # not written yet, or half written
                    url = f"http://127.0.0.1:{json.loads(info.read_text())['port']}"
            try:
                if url is None:
                    raise OSError("no runtime file yet")
                with urllib.request.urlopen(f"{url}/api/status", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab did not answer in {timeout_s} s: "
                                   f"{log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


@contextlib.contextmanager
def chromium_page(width: int = 1400, height: int = 1000):
    """A page in Debian's chromium, driven by playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            context.grant_permissions(["clipboard-read", "clipboard-write"])
            yield context.new_page()
        finally:
            browser.close()


def write_notebook(path: Path, cells: list[str]) -> Path:
    """A notebook of code cells with the python3 kernel, ready to open."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c, id=f"cell-{i}") for i, c in enumerate(cells)])
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
                   "language_info": {"name": "python"}}
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def browser_ready():
    if missing():
        subprocess.run(["bash", str(ROOT / "scripts/browser-up.sh")], check=False)
    lacks = missing()
    if lacks:
        if IN_CI:
            pytest.fail(f"CI must run the browser test; missing: {', '.join(lacks)} (scripts/browser-up.sh)")
        pytest.skip(f"missing {', '.join(lacks)}: run scripts/browser-up.sh")


def executor() -> str:
    """Docker when an engine answers (the product's default), else a local run."""
    try:
        from purelink.execution.docker import docker_available

        return "auto" if docker_available() else "local"
    except ImportError:
        return "local"


@pytest.fixture
def lab(browser_ready, tmp_path, request):
    """JupyterLab serving a fresh folder; when the test fails, the end of its log is printed (a
    kernel that died or restarted says so there)."""
    root = tmp_path / "notebooks"
    root.mkdir()
    env = {"PURELINK_HOME": str(tmp_path / "home"), "STRIPE_API_KEY": ""}
    log = tmp_path / "lab.log"
    with jupyter_lab(root, env=env, log_path=log) as url:
        yield url, root
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"\nthe end of JupyterLab's log ({log}):\n{log.read_text(errors='replace')[-4000:]}")


@pytest.fixture
def page(lab, tmp_path, request):
    with chromium_page() as page:
        yield page
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            folder = Path(os.environ.get("PURELINK_ARTIFACTS") or tmp_path)
            folder.mkdir(parents=True, exist_ok=True)
            shot = folder / f"{request.node.name}.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"\nscreenshot of the failure: {shot}")


@pytest.fixture
def make_notebook():
    """`make_notebook(path, [code, ...])` writes a notebook to open in the lab."""
    return write_notebook


@pytest.fixture
def lab_executor() -> str:
    return executor()
