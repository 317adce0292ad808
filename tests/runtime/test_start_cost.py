"""What a process pays before its first request: the imports that issue 13's fixed cost came from.

Each check runs in a fresh interpreter, since what this one has imported already says nothing.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]  # `python -c` puts its working directory first on the path


def loaded_after(code: str) -> dict:
    """`sys.modules` names of interest after running `code` in a new interpreter."""
    probe = code + "\nimport json, sys\nprint(json.dumps({n: n in sys.modules for n in " \
        "('pyarrow', 'httpx', 'httpcore', 'duckdb', 'trio', 'httpx._main', 'rich', 'click')}))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          timeout=120, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_code_generation_reads_the_runtime_classes_without_pyarrow_or_httpx():
    # what `purelink recipes run` imports to find a connector and write the module
    loaded = loaded_after("import purelink.runtime.sources.rest, purelink.runtime.formats, "
                          "purelink.runtime.paginators, purelink.runtime.windows")
    assert not loaded["pyarrow"] and not loaded["httpx"] and not loaded["duckdb"]


def test_the_command_line_and_its_engine_start_without_pyarrow():
    # what every `purelink` command imports before it starts a run: Arrow is the pipeline's business
    loaded = loaded_after("import purelink.cli.recipes, purelink.engine, purelink.execution.jobs")
    assert not loaded["pyarrow"] and not loaded["duckdb"], loaded


def test_a_pipeline_loads_httpx_without_its_command_line_client_or_trio():
    loaded = loaded_after(
        "from purelink.runtime.http import HttpClient, RetryPolicy, TokenBucket\n"
        "HttpClient(base_url='http://127.0.0.1:9', limiter=TokenBucket(1.0), retry=RetryPolicy()).close()")
    assert loaded["httpx"] and loaded["httpcore"]
    assert not loaded["httpx._main"] and not loaded["rich"] and not loaded["click"] and not loaded["trio"]


@pytest.mark.skipif(importlib.util.find_spec("trio") is None, reason="trio is not installed here")
def test_trio_stays_importable_after_the_runtime_loaded_httpx():
    loaded = loaded_after("import purelink.runtime.http\nimport trio\nassert trio.run")
    assert loaded["trio"]
