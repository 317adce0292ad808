"""The canary: one unique key goes through the whole product and is found nowhere in plain text.

Vault, recipe, generated module, schema probe (samples), a container test run and a full run,
their logs and events, a notebook export, the DuckDB file, and `docker inspect` of the running
container are all searched for the value and its common encodings.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote, quote_plus

from purelink.sandbox import serve


def forms(value: str) -> list[bytes]:
    return [f.encode() for f in (value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1],
                                  base64.b64encode(f"{value}:".encode()).decode(),
                                  base64.b64encode(value.encode()).decode())]


def leaks(blob: bytes, value: str) -> bool:
    return any(f in blob for f in forms(value))


def test_a_canary_key_appears_nowhere(tmp_path, containers_of, base_image, runtime_image):
    canary = "sk_test_CANARY" + uuid.uuid4().hex
    home, ws = tmp_path / "home", tmp_path / "ws"
    ws.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "STRIPE_API_KEY"}
    env.update(PURELINK_HOME=str(home), PURELINK_BASE_IMAGE=base_image, PURELINK_VAULT_KEYRING="0")
    outputs: list[str] = []

    def purelink(*args: str, extra_env: dict | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "purelink.cli", *args], cwd=ws, capture_output=True, text=True,
                              env={**env, **(extra_env or {})}, timeout=600, check=False, stdin=subprocess.DEVNULL)
        outputs.extend([proc.stdout, proc.stderr])
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc

    with serve(host="0.0.0.0", api_keys=[canary], latency_ms=20) as api:
        purelink("secrets", "set", "stripe_canary", "--from-env", "CANARY", extra_env={"CANARY": canary})
        purelink("recipes", "new", "canary", "--source", "stripe", "--streams", "customers", "--base-url",
                 api.stripe_base_url, "--credential", "stripe_canary", "--executor", "docker")
        # the schema probe writes samples/ and schemas/ with the key from the vault
        from purelink.catalog.spec import get_spec
        from purelink.discovery.probe import probe_stream

        probe_stream(get_spec("stripe"), "customers", secret=canary, base_url=api.stripe_base_url, workspace=ws)

        inspected: list[dict] = []

        def watch(stop: threading.Event) -> None:
            while not stop.is_set():
                for c in containers_of(ws):
                    if not any(i["Id"] == c.id for i in inspected):
                        inspected.append(c.attrs)
                time.sleep(0.05)

        stop = threading.Event()
        watcher = threading.Thread(target=watch, args=(stop,))
        watcher.start()
        try:
            sample = purelink("recipes", "run", "canary", "--sample", "5", "--executor", "docker")
            full = purelink("recipes", "run", "canary", "--executor", "docker", "--format", "json")
        finally:
            stop.set()
            watcher.join()
        assert "[PASS] credentials" in sample.stdout
        assert json.loads(full.stdout.strip().splitlines()[-1])["records"] == 3421
        purelink("recipes", "export", "canary", "--notebook", str(ws / "canary.ipynb"))
        purelink("recipes", "share", "canary")
        purelink("inspect", "--tables")

    assert inspected, "no container was seen"
    assert not leaks(json.dumps(inspected).encode(), canary), "docker inspect shows the key"
    for text in outputs:
        assert not leaks(text.encode(), canary), text[-500:]
    searched = 0
    for path in [*ws.rglob("*"), *home.rglob("*")]:
        if path.is_file():
            searched += 1
            assert not leaks(path.read_bytes(), canary), f"{path} holds the key in plain text"
    kinds = {p.suffix for p in ws.rglob("*") if p.is_file()}
    assert {".yaml", ".py", ".json", ".sql", ".log", ".ipynb", ".duckdb"} <= kinds, kinds
    assert searched >= 8
    # the vault does hold it, encrypted: the key was really used from there
    assert (home / "vault" / "stripe_canary.json").exists()
    assert Path(ws / "logs").glob("execution_*.log")


def test_a_warehouse_password_and_a_motherduck_token_appear_nowhere(tmp_path, postgres, docker_engine, base_image,
                                                                     runtime_image):
    """Store credentials travel like API keys: vault -> container secrets file -> the store's client."""
    password, token = "pw_CANARY" + uuid.uuid4().hex, "md_CANARY" + uuid.uuid4().hex
    role = "canary_" + uuid.uuid4().hex[:8]
    postgres.execute("postgres", f"CREATE ROLE {role} LOGIN CREATEDB PASSWORD '{password}'")
    admin = postgres.connect(autocommit=True)  # CREATE DATABASE runs outside a transaction
    admin.cursor().execute(f"CREATE DATABASE {role} OWNER {role}")
    admin.close()
    home, ws = tmp_path / "home", tmp_path / "ws"
    ws.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("STRIPE_API_KEY", "WAREHOUSE_PASSWORD", "PGPASSWORD")}
    env.update(PURELINK_HOME=str(home), PURELINK_BASE_IMAGE=base_image, PURELINK_VAULT_KEYRING="0")
    outputs: list[str] = []

    def purelink(*args: str, ok: bool = True, **extra: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "purelink.cli", *args], cwd=ws, capture_output=True, text=True,
                              env={**env, **extra}, timeout=600, check=False, stdin=subprocess.DEVNULL)
        outputs.extend([proc.stdout, proc.stderr])
        assert (proc.returncode == 0) == ok, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc

    with serve(host="0.0.0.0", customers=50) as api:
        purelink("secrets", "set", "wh_canary", "--from-env", "CANARY", CANARY=password)
        purelink("secrets", "set", "md_canary", "--from-env", "CANARY", CANARY=token)
        warehouse = f"postgresql://{role}@{postgres.host}:{postgres.port}/{role}"
        for name, url, credential in (("wh", warehouse, "wh_canary"), ("md", "md:canary_db", "md_canary")):
            purelink("recipes", "new", name, "--source", "stripe", "--streams", "customers", "--base-url",
                     api.stripe_base_url, "--destination", url, "--destination-credential", credential,
                     "--executor", "docker", STRIPE_API_KEY=api.api_key)
        full = purelink("recipes", "run", "wh", "--format", "json", STRIPE_API_KEY=api.api_key)
        assert json.loads(full.stdout.strip().splitlines()[-1])["records"] == 50
        purelink("inspect", "--destination", warehouse, "--destination-credential", "wh_canary", "--tables")
        # MotherDuck cannot be reached from here: the run fails, saying so and what to do
        offline = purelink("recipes", "run", "md", "--executor", "local", ok=False, STRIPE_API_KEY=api.api_key)
        assert "MotherDuck" in offline.stdout + offline.stderr and "Traceback" not in offline.stderr
    assert postgres.query(role, "SELECT count(*) FROM stripe.customers") == [(50,)]
    for text in outputs:
        assert not leaks(text.encode(), password) and not leaks(text.encode(), token), text[-500:]
    for path in [*ws.rglob("*"), *home.rglob("*")]:
        if path.is_file():
            blob = path.read_bytes()
            assert not leaks(blob, password) and not leaks(blob, token), f"{path} holds a store credential"
    assert "md_canary" in (ws / "pipelines" / "md.py").read_text()  # by name only
