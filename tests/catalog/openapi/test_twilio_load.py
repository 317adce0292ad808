"""The vendored Twilio document, imported, loads the sandbox's Twilio protocol completely: HTTP
Basic with two secrets (the account SID as user name, the auth token as password) stored in the
vault like any other, the token never printed, `next_page_uri` relative to the host, `{AccountSid}`
a path variable, and a bundle to share (the SID, an id in every URL and record, is no secret there).
What landed is compared with the sandbox's records: rows == distinct sid == truth."""

from __future__ import annotations

import json
import tarfile

import duckdb
import pytest
import yaml

from purelink.sandbox import twilio
from tests.catalog.openapi.test_vendor_loads import DOCS, landed, purelink


@pytest.mark.slow
def test_imported_twilio_loads_every_message_and_call(small_sandbox, tmp_path):
    source = small_sandbox.sources()["twilio"]
    ws, home = tmp_path / "ws", tmp_path / "home"
    ws.mkdir()
    env = {"PURELINK_HOME": str(home)}
    out = purelink("sources", "import", str(DOCS / "twilio" / "twilio.json.gz"), "--base-url", source["base_url"],
                   "--streams", "messages,calls", "--accept-guesses", "--yes", cwd=ws, env=env)
    saved = yaml.safe_load((ws / "connectors" / "twilio.yaml").read_text())
    assert saved["auth"]["style"] == "basic"
    assert (saved["auth"]["env"], saved["auth"]["password_env"]) == ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")
    assert saved["pagination"]["next_url_path"] == "next_page_uri" and saved["pagination"]["page_size"] == 1000
    # the two credentials, stored in the vault as any other secret, then given to no command
    given = {"SID_FROM_CONSOLE": source["account_sid"], "TOKEN_FROM_CONSOLE": source["auth_token"]}
    outputs = [out]
    outputs.append(purelink("secrets", "set", "TWILIO_ACCOUNT_SID", "--from-env", "SID_FROM_CONSOLE", cwd=ws,
                            env={**env, **given}))
    outputs.append(purelink("secrets", "set", "TWILIO_AUTH_TOKEN", "--from-env", "TOKEN_FROM_CONSOLE", cwd=ws,
                            env={**env, **given}))
    outputs.append(purelink("recipes", "new", "twilio_all", "--source", "twilio", "--streams", "messages,calls",
                            "--var", f"AccountSid={source['account_sid']}", "--executor", "local", cwd=ws, env=env))
    outputs.append(purelink("recipes", "run", "twilio_all", "--executor", "local", cwd=ws, env=env))
    truth = twilio.dataset(0, 150)
    con = duckdb.connect(str(ws / "data" / "purelink.duckdb"), read_only=True)
    try:
        for stream in ("messages", "calls"):
            count, keys = landed(con, f"twilio.{stream}", key="sid")
            assert count == len(keys) == len(truth[stream]) and keys == {r["sid"] for r in truth[stream]}, stream
    finally:
        con.close()
    # every place that names the secrets a run needs names both: the source, and the bundle a teammate gets
    shown = purelink("sources", "show", "twilio", cwd=ws, env=env)
    assert "environment variable TWILIO_ACCOUNT_SID" in shown and "password in TWILIO_AUTH_TOKEN" in shown
    outputs.append(shown)
    # a teammate's bundle: the account SID is in its URLs and sampled records (an id, not a secret),
    # the token nowhere; its manifest and README name both secrets the receiver must set
    bundle = ws / "twilio_all.tar.gz"
    outputs.append(purelink("recipes", "share", "twilio_all", "--output", str(bundle), cwd=ws, env=env))
    with tarfile.open(bundle) as tar:
        files = {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers() if m.isfile()}
    manifest = json.loads(next(text for name, text in files.items() if name.endswith("manifest.json")))
    assert [c["name"] for c in manifest["credentials"]] == ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"]
    readme = next(text for name, text in files.items() if name.endswith("README.md"))
    assert "purelink secrets set TWILIO_ACCOUNT_SID" in readme and "purelink secrets set TWILIO_AUTH_TOKEN" in readme
    assert any(source["account_sid"] in text for name, text in files.items() if "/sample/" in name)
    assert all(source["auth_token"] not in text for text in files.values())
    written = [p.read_text(errors="replace") for p in ws.rglob("*") if p.is_file() and p.suffix in (".py", ".yaml",
                                                                                                   ".log", ".json")]
    assert written and source["auth_token"] not in "".join(outputs + written)
    assert "TWILIO_AUTH_TOKEN" in (ws / "pipelines" / "twilio_all.py").read_text()  # read by name at run time
