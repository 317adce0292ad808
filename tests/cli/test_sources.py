"""`purelink sources [QUERY]` and `purelink sources show NAME`, run as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from purelink.catalog.spec import catalog

PURELINK = [sys.executable, "-m", "purelink.cli", "sources"]
MODULE = [sys.executable, "-m", "purelink.cli.sources"]
COMMANDS = {
    "all": [*PURELINK],
    "s": [*PURELINK, "S"],
    "payments_json": [*PURELINK, "payments", "--format", "json"],
    "two_words": [*PURELINK, "crm", "platform", "--format", "json"],
    "limit": [*PURELINK, "--limit", "2", "--format", "json"],
    "nothing": [*PURELINK, "xyzzy"],
    "nothing_json": [*PURELINK, "xyzzy", "--format", "json"],
    "show_json": [*PURELINK, "show", "stripe", "--format", "json"],
    "show_title": [*PURELINK, "show", "GitHub"],
    "show_typo": [*PURELINK, "show", "strp"],
    "show_unknown": [*PURELINK, "show", "zzzzzz"],
    "show_nothing": [*PURELINK, "show"],
    "module_show": [*MODULE, "show", "stripe", "--format", "json"],
    "module_search": [*MODULE, "hubspt"],
}


@pytest.fixture(scope="module")
def ran() -> dict[str, subprocess.CompletedProcess]:
    def one(args: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {key: pool.submit(one, args) for key, args in COMMANDS.items()}
        return {key: f.result() for key, f in futures.items()}


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout


def test_no_query_lists_the_catalog_alphabetically(ran):
    lines = ok(ran["all"]).splitlines()
    assert [line.split()[0] for line in lines] == sorted(catalog(), key=lambda n: catalog()[n].title.lower())
    assert any("Stripe (Payment processing)" in line and "Payments" in line for line in lines)


def test_s_shows_the_s_sources_first_with_descriptions(ran):
    lines = ok(ran["s"]).splitlines()
    # titles starting with S, then titles with an S word (Hub|Spot, Postgre|SQL)
    assert [line.split()[0] for line in lines] == ["salesforce", "shopify", "stripe", "hubspot", "postgres"]
    assert "Salesforce (CRM platform)" in lines[0] and "Shopify (E-commerce)" in lines[1]


def test_json_search(ran):
    found = json.loads(ok(ran["payments_json"]))
    assert [f["name"] for f in found] == ["stripe"]
    assert found[0]["label"] == "Stripe (Payment processing)" and found[0]["why"] == "description"
    assert set(found[0]) == {"name", "title", "description", "category", "label", "score", "why"}
    assert json.loads(ok(ran["two_words"]))[0]["name"] == "salesforce"
    assert len(json.loads(ok(ran["limit"]))) == 2


def test_no_match_is_not_an_error(ran):
    assert "No source in the catalog matches 'xyzzy'" in ok(ran["nothing"])
    assert json.loads(ok(ran["nothing_json"])) == []


def test_show_json_has_streams_auth_limits_and_pagination(ran):
    info = json.loads(ok(ran["show_json"]))
    assert {"name", "title", "category", "description", "streams", "auth", "rate_limit", "pagination"} <= set(info)
    assert info["name"] == "stripe" and info["title"] == "Stripe"
    stream = info["streams"][0]
    assert {"name", "description", "primary_key", "cursor_field"} <= set(stream)
    assert stream["name"] == "customers" and stream["primary_key"] == "id" and stream["cursor_field"] == "created"
    assert {"style", "env", "key_hint", "guidance"} <= set(info["auth"])
    assert info["auth"]["env"] == "STRIPE_API_KEY" and info["auth"]["guidance"]["steps"]
    assert info["rate_limit"]["requests_per_second"] and info["pagination"]["style"] == "cursor"


def test_show_table_reads_like_a_page(ran):
    out = ok(ran["show_title"])
    assert out.startswith("GitHub (Code hosting and issue tracking)")
    for text in ("issues", "pull_requests", "--var owner=", "GITHUB_TOKEN", "github_pat_", "rate limit: 1.38",
                 "pagination: link_header", "1. "):
        assert text in out, text


def test_unknown_name_suggests_the_close_one(ran):
    proc = ran["show_typo"]
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "No source named 'strp'" in proc.stderr and "Did you mean Stripe?" in proc.stderr
    proc = ran["show_unknown"]
    assert proc.returncode == 1 and "purelink sources" in proc.stderr and "Did you mean" not in proc.stderr
    proc = ran["show_nothing"]
    assert proc.returncode == 1 and "one source name" in proc.stderr


def test_python_dash_m_is_the_same_command(ran):
    assert json.loads(ok(ran["module_show"])) == json.loads(ok(ran["show_json"]))
    assert ok(ran["module_search"]).split()[0] == "hubspot"


@pytest.mark.skipif(shutil.which("purelink") is None, reason="console script not installed")
def test_console_script():
    out = subprocess.run(["purelink", "sources", "S", "--format", "json"], capture_output=True, text=True, timeout=60,
                         check=False)
    names = [s["name"] for s in json.loads(out.stdout)] if out.returncode == 0 else out.stderr
    assert names == ["salesforce", "shopify", "stripe", "hubspot", "postgres"]


@pytest.mark.parametrize("name", sorted(catalog()))
def test_every_entry_shows_in_process(name, capsys):
    from purelink.cli.sources import show

    assert show(name, "json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == name and info["auth"]["style"]
