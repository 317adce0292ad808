"""The wizard on an imported Twilio connector: HTTP Basic with two secrets (the account SID as the
key, the auth token as the password) asked for at the credentials stage, checked together with one
live request, kept in the vault under their own names, never in the session's files; the sample
run and the full run load every message of the sandbox's Twilio protocol."""

from __future__ import annotations

from pathlib import Path

import pytest

from purelink.errors import PurelinkError
from purelink.sandbox import twilio
from purelink.secrets.vault import Vault
from purelink.wizard import Session, SessionError

TWILIO = Path(__file__).parents[1] / "fixtures" / "openapi" / "twilio" / "twilio.json.gz"


def at_credentials(root, source: dict) -> Session:
    """A session that imported the vendored Twilio document and reached the credentials stage."""
    s = Session(root)
    s.import_openapi(TWILIO)
    s.confirm_import({"streams": ["messages"], "variables.AccountSid": source["account_sid"]})
    s.next()
    s.choose_streams(["messages"])
    s.next()
    s.set_requirements(base_url=source["base_url"], executor="local")
    s.next()
    return s


@pytest.mark.slow
def test_the_account_sid_and_the_auth_token_are_asked_checked_and_kept(small_sandbox, workspace, monkeypatch):
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("TWILIO_ACCOUNT_SID", raising=False)
    source = small_sandbox.sources()["twilio"]
    asked = Session(workspace)
    asked.import_openapi(TWILIO)
    assert {"auth", "variables.AccountSid"} <= {g.field for g in asked.import_questions(["messages"])}
    s = at_credentials(workspace, source)
    help_ = s.key_guidance()
    assert (help_.env, help_.password_env) == ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")
    with pytest.raises(SessionError, match="TWILIO_AUTH_TOKEN"):
        s.set_credential(source["account_sid"])  # the password is asked for, not left empty
    with pytest.raises(PurelinkError, match="401"):
        s.set_credential(source["account_sid"], password="not-the-token")
    status = s.set_credential(source["account_sid"], password=source["auth_token"])
    assert status.saved and status.where == "vault"
    assert Vault().get("twilio") == source["account_sid"] and Vault().get("TWILIO_AUTH_TOKEN") == source["auth_token"]
    s.next()
    assert len(s.probe()["messages"].records) == 5
    s.next()
    s.next()
    assert s.generate().ok
    s.next()
    assert s.test().ok
    s.next()
    assert s.run().wait(300).ok
    s.next()
    truth = {r["sid"] for r in twilio.dataset(0, 150)["messages"]}
    messages = s.tables()["messages"]
    assert len(messages) == messages["sid"].nunique() == len(truth) and set(messages["sid"]) == truth
    for path in workspace.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".yaml", ".py", ".sql", ".log"):
            assert source["auth_token"] not in path.read_text(errors="replace"), path
