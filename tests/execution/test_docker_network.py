"""A container reaches services on this machine: through the bridge when they listen there, and
through a relay admitting that run's container only when they listen on loopback alone."""

from __future__ import annotations

import http.server
import json
import os
import socket
import threading
import time
import urllib.request

import pytest

from purelink.errors import SourceError
from purelink.execution.docker import LOOPBACK_HOST, container_url, host_gateway_address
from purelink.execution.docker.watchdog import owner_labels

CEILING_S = 120
docker_only = pytest.mark.docker


@pytest.mark.parametrize(("url", "expected"), [
    ("http://127.0.0.1:8111/v1", f"http://{LOOPBACK_HOST}:8111/v1"),
    ("http://localhost:8111", f"http://{LOOPBACK_HOST}:8111"),
    ("https://localhost/v1?limit=5", f"https://{LOOPBACK_HOST}/v1?limit=5"),
    ("http://127.8.9.10:80/x", f"http://{LOOPBACK_HOST}:80/x"),
    ("http://[::1]:9000/", f"http://{LOOPBACK_HOST}:9000/"),
    ("http://0.0.0.0:8111", f"http://{LOOPBACK_HOST}:8111"),
    ("postgresql://etl@localhost:5432/shop", f"postgresql://etl@{LOOPBACK_HOST}:5432/shop"),
    ("https://api.stripe.com/v1", "https://api.stripe.com/v1"),
    ("http://10.1.2.3:8080/v1", "http://10.1.2.3:8080/v1"),
    ("http://localhost.example.com/", "http://localhost.example.com/"),
    ("not a url", "not a url"),
])
def test_container_url(url, expected):
    assert container_url(url) == expected



class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"hello": "from the host", "host_header": self.headers["Host"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def host_api(docker_engine):
    """A sandbox-like API on the host, on 127.0.0.1 (for local runs) and, on the same port, on the
    bridge's gateway (for containers, which cannot reach the host's 127.0.0.1) rather than on every
    address of the machine: the pattern docs/docker.md recommends."""
    gateway = http.server.ThreadingHTTPServer((host_gateway_address(docker_engine), 0), _Hello)
    port = gateway.server_address[1]
    loopback = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Hello)
    for server in (gateway, loopback):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield port
    for server in (gateway, loopback):
        server.shutdown()
        server.server_close()


@docker_only
@pytest.mark.parametrize("how", ["job env", "runtime rewrite"])
def test_container_reaches_an_api_on_the_host_loopback(runner, make_job, host_api, how):
    url = f"http://127.0.0.1:{host_api}/v1/hello"
    assert json.loads(urllib.request.urlopen(url, timeout=60).read())["hello"] == "from the host"
    if how == "job env":  # a loopback URL handed over in Job.env is rewritten by the runner
        job = make_job("--fetch", "$API_URL", env={"API_URL": url})
    else:  # a URL baked into the module is rewritten by the runtime, from PURELINK_LOOPBACK_HOST
        job = make_job("--fetch", url)
    result = runner.start(job).collect()
    fetched = [e for e in result.events if e.get("url")]
    assert fetched and fetched[0]["event"] == "page", result.events
    assert fetched[0]["url"] == container_url(url)
    assert json.loads(fetched[0]["body"])["hello"] == "from the host"
    assert json.loads(fetched[0]["body"])["host_header"] == f"{LOOPBACK_HOST}:{host_api}"


@pytest.fixture
def loopback_api():
    """The same API on 127.0.0.1 only: a container cannot reach it without the runner's relay."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


# Another container on the same bridge, trying the relay the run's container uses.
PROBE = """
import socket, sys
data = b""
try:
    s = socket.create_connection(("host.docker.internal", int(sys.argv[1])), timeout=60)
    s.sendall(b"GET /v1/hello HTTP/1.0\\r\\nHost: probe\\r\\n\\r\\n")
    data = s.recv(65536)
except OSError:  # refused or reset: nothing came back either way
    pass
print("bytes back:", len(data))
"""


def _probe(runner, port: int) -> str:
    box = runner.client.containers.run(runner.image, ["python", "-c", PROBE, str(port)], detach=True,
                                       extra_hosts={LOOPBACK_HOST: "host-gateway"},
                                       labels={**owner_labels(), "purelink.run": "probe"})
    try:
        box.wait(timeout=CEILING_S)
        return box.logs().decode().strip()
    finally:
        box.remove(force=True)


def _answers(address: str, port: int) -> bytes | None:
    """What a GET to address:port brings back from this machine (None: refused)."""
    try:
        with socket.create_connection((address, port), timeout=30) as s:
            s.sendall(b"GET /v1/hello HTTP/1.0\r\nHost: host\r\n\r\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
            return b"".join(chunks)
    except ConnectionResetError:  # accepted, then cut: nothing came back
        return b""
    except OSError:
        return None


@docker_only
def test_a_loopback_only_api_is_forwarded_to_this_run_only(runner, make_job, loopback_api):
    url = f"http://127.0.0.1:{loopback_api}/v1/hello"
    handle = runner.start(make_job("--fetch", "$API_URL", "--sleep", "600", env={"API_URL": url}))
    try:
        assert handle.network == [f"127.0.0.1:{loopback_api} forwarded to this run's container only"]
        fetched = None
        for event in handle.events():
            if event.get("url"):
                fetched = event
                break
        assert fetched is not None and fetched["event"] == "page", fetched
        assert json.loads(fetched["body"])["host_header"] == f"{LOOPBACK_HOST}:{loopback_api}"
        # while the run goes on: another container, and this machine itself, get nothing through it
        assert _probe(runner, loopback_api) == "bytes back: 0"
        gateway = host_gateway_address(runner.client)
        assert _answers(gateway, loopback_api) in (None, b"")
    finally:
        handle.stop(grace_s=30)
        handle.wait()
    assert _answers(gateway, loopback_api) is None  # the relay closed with the run
    assert b"from the host" in _answers("127.0.0.1", loopback_api)  # the service itself is untouched


@docker_only
def test_an_unreachable_loopback_url_fails_before_any_container(runner, make_job, docker_engine):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    before = {c.id for c in docker_engine.containers.list(all=True, ignore_removed=True)}
    t = time.monotonic()
    with pytest.raises(SourceError) as caught:
        runner.start(make_job(env={"API_URL": f"http://127.0.0.1:{port}/v1"}))
    assert time.monotonic() - t < 5
    assert f"Nothing listens on 127.0.0.1:{port}" in caught.value.message
    assert f"http://127.0.0.1:{port}/v1" in caught.value.message
    assert f"purelink sandbox --port {port}" in caught.value.guidance
    assert not [c for c in docker_engine.containers.list(all=True, filters={"label": "purelink=1"},
                                                           ignore_removed=True)
                if c.id not in before and c.labels.get("purelink.pid") == str(os.getpid())]


def _fetched(handle) -> dict:
    for event in handle.events():
        if event.get("url"):
            return event
    raise AssertionError("the run ended without fetching")


@docker_only
def test_two_runs_share_a_relay_that_closes_with_the_last(runner, make_job, loopback_api):
    url = f"http://127.0.0.1:{loopback_api}/v1/hello"
    first = runner.start(make_job("--fetch", "$API_URL", "--sleep", "600", env={"API_URL": url}))
    second = None
    gateway = host_gateway_address(runner.client)
    try:
        other = make_job("--fetch", "$API_URL", "--sleep", "600", env={"API_URL": url})
        other.db_path = other.db_path.with_name("second.duckdb")  # one writer per DuckDB file
        second = runner.start(other)
        for handle in (first, second):
            assert json.loads(_fetched(handle)["body"])["hello"] == "from the host"
        second.stop(grace_s=30)
        second.wait()
        assert _answers(gateway, loopback_api) == b""  # still listening for the first run, not for us
    finally:
        for handle in (first, second):
            if handle is not None:
                handle.stop(grace_s=30)
                handle.wait()
    assert _answers(gateway, loopback_api) is None
