"""The canary for the cloud stores' credentials (beside tests/execution/test_canary.py, whose
`leaks` it uses; the emulator and S3 fixtures live here): a BigQuery service-account JSON key and
an S3 key pair go vault -> the run's secrets -> the store's client, and neither the whole value nor
a piece of it (the private key, its id, either half of the pair) is found in any output or file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from tests.execution.test_canary import leaks

pytest.importorskip("google.cloud.bigquery")
pytest.importorskip("pyiceberg")

ROOT = Path(__file__).resolve().parents[2]


class TokenEndpoint(BaseHTTPRequestHandler):
    """OAuth's token endpoint for the service account: the client trades its signed JWT here for
    an access token before it calls BigQuery (the emulator does not check the token)."""

    grants: ClassVar[list[str]] = []  # the signed JWTs received: the key was really used

    def do_POST(self) -> None:
        TokenEndpoint.grants.append(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
        body = json.dumps({"access_token": "local-access-token", "expires_in": 3600, "token_type": "Bearer"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def token_uri():
    server = ThreadingHTTPServer(("127.0.0.1", 0), TokenEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/token"
    server.shutdown()
    server.server_close()


def service_account(token_uri: str, key_id: str) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return json.dumps({"type": "service_account", "project_id": "purelink-test", "private_key_id": key_id,
                       "private_key": pem, "client_email": "loader@purelink-test.iam.gserviceaccount.com",
                       "client_id": "1", "token_uri": token_uri})


def test_a_service_account_key_and_s3_keys_appear_nowhere(tmp_path, sandbox_factory, bq_emulator, s3_server,
                                                           s3_bucket, postgres, token_uri):
    key_id = "kid_CANARY" + uuid.uuid4().hex
    sa = service_account(token_uri, key_id)
    s3_id, s3_secret = "AKIACANARY" + uuid.uuid4().hex[:10].upper(), "s3_CANARY" + uuid.uuid4().hex
    pem_lines = [line for line in json.loads(sa)["private_key"].splitlines() if not line.startswith("-----")]
    secrets = [sa, key_id, f"{s3_id}:{s3_secret}", s3_id, s3_secret, *pem_lines]
    home, ws = tmp_path / "home", tmp_path / "ws"
    ws.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("STRIPE_API_KEY", "S3_KEYS")}
    env.update(PURELINK_HOME=str(home), PURELINK_VAULT_KEYRING="0", WAREHOUSE_PASSWORD=postgres.password,
               PYTHONPATH=str(ROOT))
    outputs: list[str] = []

    def purelink(*args: str, **extra: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "purelink.cli", *args, "--workspace", str(ws)], cwd=tmp_path,
                              capture_output=True, text=True, env={**env, **extra}, timeout=600, check=False,
                              stdin=subprocess.DEVNULL)
        outputs.extend([proc.stdout, proc.stderr])
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc

    api = sandbox_factory(customers=40)
    purelink("secrets", "set", "bq_canary", "--from-env", "CANARY", CANARY=sa)
    purelink("secrets", "set", "s3_canary", "--from-env", "CANARY", CANARY=f"{s3_id}:{s3_secret}")
    catalog = postgres.create_database(f"ice_{uuid.uuid4().hex[:8]}")
    urls = {
        "bq": (f"bigquery://purelink-test/ds_{uuid.uuid4().hex[:8]}?endpoint={bq_emulator}", "bq_canary"),
        "s3": ((f"iceberg+postgresql://{postgres.user}@{postgres.host}:{postgres.port}/{catalog}"
                f"?warehouse=s3://{s3_bucket}/wh&endpoint={s3_server}&s3_credential=s3_canary"), "WAREHOUSE_PASSWORD"),
    }
    for name, (url, credential) in urls.items():
        purelink("recipes", "new", name, "--source", "stripe", "--streams", "customers", "--base-url",
                 api.stripe_base_url, "--destination", url, "--destination-credential", credential,
                 STRIPE_API_KEY=api.api_key)
        done = purelink("recipes", "run", name, "--format", "json", STRIPE_API_KEY=api.api_key)
        assert json.loads(done.stdout.strip().splitlines()[-1])["records"] == 40
        listed = purelink("inspect", "--destination", url, "--destination-credential", credential, "--tables")
        assert "customers" in listed.stdout
        assert "bq_canary" in (ws / "pipelines" / "bq.py").read_text() if name == "bq" else \
            "s3_canary" in (ws / "pipelines" / "s3.py").read_text()  # by name only

    assert any("jwt-bearer" in g for g in TokenEndpoint.grants), "the service account was not used"
    for text in outputs:
        assert not any(leaks(text.encode(), s) for s in secrets), text[-500:]
    searched = 0
    for path in [*ws.rglob("*"), *home.rglob("*")]:
        if path.is_file():
            searched += 1
            blob = path.read_bytes()
            assert not any(leaks(blob, s) for s in secrets), f"{path} holds a cloud credential"
    assert searched >= 6
    assert (home / "vault" / "bq_canary.json").exists() and (home / "vault" / "s3_canary.json").exists()
