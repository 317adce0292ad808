"""Reachability checks from this machine (no Docker engine needed): real sockets, real lookups."""

from __future__ import annotations

import os
import socket
import time

import pytest

from purelink.errors import SourceError
from purelink.execution.reach import check_urls, endpoint, recipe_urls
from purelink.recipes import DestinationChoice, Recipe, SourceChoice, StreamChoice
from purelink.runtime import net
from purelink.runtime.net import loopback_to


@pytest.fixture
def listener():
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(("url", "host", "port", "loopback"), [
    ("http://127.0.0.1:8111/v1", "127.0.0.1", 8111, True),
    ("http://localhost/v1", "localhost", 80, True),
    ("https://api.stripe.com/v1", "api.stripe.com", 443, False),
    ("postgresql://etl@[::1]/shop", "::1", 5432, True),
    ("postgresql+psycopg://etl@db.internal:6543/shop", "db.internal", 6543, False),
])
def test_endpoint(url, host, port, loopback):
    found = endpoint(url)
    assert (found.host, found.port, found.loopback) == (host, port, loopback)


@pytest.mark.parametrize("url", ["not a url", "file:///tmp/x.duckdb", "https://{subdomain}.zendesk.com/api"])
def test_what_names_no_service_is_not_checked(url):
    assert endpoint(url) is None
    assert check_urls([url]) == []


def test_a_listening_loopback_port_passes_and_says_where(listener):
    found, again = check_urls([f"http://localhost:{listener}/v1", f"http://127.0.0.1:{listener}/v2"])
    assert found.target == again.target == ("127.0.0.1", listener)


def test_nothing_on_loopback_fails_at_once_with_the_fix(closed_port):
    t = time.monotonic()
    with pytest.raises(SourceError) as caught:
        check_urls([f"http://127.0.0.1:{closed_port}/v1"])
    assert time.monotonic() - t < 5
    assert caught.value.message.startswith(f"Nothing listens on 127.0.0.1:{closed_port}")
    assert f"purelink sandbox --port {closed_port}" in caught.value.guidance


def test_a_port_only_root_may_open_is_not_offered_to_the_sandbox():
    with pytest.raises(SourceError) as caught:  # nothing listens on the discard port here
        check_urls(["http://127.0.0.1:9/v1"])
    assert "--port 9`" not in caught.value.guidance and "below 1024" in caught.value.guidance
    assert "`purelink sandbox`" in caught.value.guidance


def test_a_loopback_database_is_told_to_start_the_server(closed_port):
    url = f"postgresql://etl:hunter2secret@localhost:{closed_port}/shop"
    with pytest.raises(SourceError) as caught:
        check_urls([url], recipe="shop_sync")
    assert "PostgreSQL server on port" in caught.value.guidance
    assert "`purelink recipes new shop_sync --update --destination URL`" in caught.value.guidance
    assert "hunter2secret" not in str(caught.value)  # a password in the URL is never repeated


def test_an_unknown_host_fails_at_once():
    t = time.monotonic()
    with pytest.raises(SourceError, match="cannot be resolved") as caught:
        check_urls(["https://no-such-host.invalid/v1"])  # .invalid never resolves (RFC 2606)
    assert time.monotonic() - t < 5
    assert "no-such-host.invalid" in caught.value.message


def test_the_urls_of_a_recipe():
    from purelink.catalog.spec import get_spec

    stripe = Recipe(name="s", source=SourceChoice(name="stripe", base_url="http://127.0.0.1:8111/v1"),
                    streams=[StreamChoice(name="customers")])
    assert recipe_urls(stripe, get_spec("stripe")) == ["http://127.0.0.1:8111/v1"]
    assert recipe_urls(stripe.model_copy(update={"source": SourceChoice(name="stripe")}),
                       get_spec("stripe")) == [get_spec("stripe").base_url]
    warehouse = stripe.model_copy(update={"destination": DestinationChoice(
        kind="postgres", url="postgresql://etl@127.0.0.1:5432/dw")})
    assert recipe_urls(warehouse, get_spec("stripe")) == ["http://127.0.0.1:8111/v1",
                                                          "postgresql://etl@127.0.0.1:5432/dw"]
    assert recipe_urls(warehouse, get_spec("stripe"), sample=True) == ["http://127.0.0.1:8111/v1"]


@pytest.mark.parametrize(("url", "expected"), [
    ("http://LOCALHOST:8111/v1", "http://h:8111/v1"),
    ("http://[::1]:9000/x", "http://h:9000/x"),
    ("postgresql://etl:pw@0.0.0.0/shop", "postgresql://etl:pw@h/shop"),
    ("http://127.0.0.1:notaport/", "http://127.0.0.1:notaport/"),
    ("https://api.stripe.com/v1", "https://api.stripe.com/v1"),
])
def test_the_runtime_rewrites_loopback_the_same_way(url, expected):
    assert loopback_to(url, "h") == expected
    assert loopback_to(url, None) == url


def test_what_a_container_reports_names_the_addresses_as_written(monkeypatch):
    """Messages from inside a container (an HTTP error's URL, a driver naming host and port apart)
    give back the address the recipe wrote; addresses never rewritten stay as they are."""
    monkeypatch.setattr(net, "_WRITTEN", {})
    monkeypatch.setattr(net, "_WRITTEN_HOSTS", {})
    monkeypatch.setenv("PURELINK_LOOPBACK_HOST", "host.docker.internal")
    assert net.reachable("http://127.0.0.1:8111/v1") == "http://host.docker.internal:8111/v1"
    assert net.reachable("https://api.stripe.com/v1") == "https://api.stripe.com/v1"
    assert net.as_written("HTTP 401 from http://host.docker.internal:8111/v1/customers") == \
        "HTTP 401 from http://127.0.0.1:8111/v1/customers"
    assert net.as_written('connection to server at "host.docker.internal" (172.17.0.1), port 8111 failed') == \
        'connection to server at "127.0.0.1" (172.17.0.1), port 8111 failed'
    assert net.as_written("HTTP 500 from https://api.stripe.com/v1/x") == "HTTP 500 from https://api.stripe.com/v1/x"
    monkeypatch.setattr(net, "_WRITTEN", {})
    monkeypatch.setattr(net, "_WRITTEN_HOSTS", {})
    assert net.reachable("http://[::1]/v1") == "http://host.docker.internal/v1"
    assert net.as_written("Nothing listens at http://host.docker.internal/v1 (host host.docker.internal)") == \
        "Nothing listens at http://[::1]/v1 (host [::1])"


def test_a_local_run_also_fails_at_once_when_nothing_listens(tmp_path):
    """The same check guards local runs: a refused port is a wrong URL or a stopped server, and
    retrying it for half a minute (as the runtime would) only hides that."""
    import subprocess
    import sys

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def purelink(*args):
        return subprocess.run([sys.executable, "-m", "purelink.cli", *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300, check=False, stdin=subprocess.DEVNULL,
                              env={**os.environ, "STRIPE_API_KEY": "sk_test_anything"})

    assert purelink("recipes", "new", "gone", "--source", "stripe", "--streams", "customers", "--base-url",
                    f"http://127.0.0.1:{port}/v1", "--executor", "local").returncode == 0
    run = purelink("recipes", "run", "gone")
    said = run.stdout + run.stderr
    assert run.returncode == 1 and "Traceback" not in said
    assert f"Nothing listens on 127.0.0.1:{port}" in said and f"purelink sandbox --port {port}" in said
    assert "purelink recipes new gone --update --base-url URL" in said  # typed as printed, it fixes this recipe
    assert "retried" not in said  # nothing was started, so nothing was retried
