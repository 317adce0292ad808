"""The notebook's credentials screen for a source whose HTTP Basic has a password of its own
(an imported Twilio connector): two masked fields, both required, checked together."""

from __future__ import annotations

from pathlib import Path

import pytest

from purelink.secrets.vault import Vault
from purelink.wizard import Session
from purelink_jupyter.wizard import Wizard

from .test_wizard import one, text_of

TWILIO = Path(__file__).parents[1] / "fixtures" / "openapi" / "twilio" / "twilio.json.gz"


@pytest.mark.slow
def test_the_key_and_the_password_are_two_masked_fields(small_sandbox, workspace):
    source = small_sandbox.sources()["twilio"]
    s = Session(workspace.root)
    s.import_openapi(TWILIO)
    s.confirm_import({"streams": ["messages"], "variables.AccountSid": source["account_sid"]})
    s.next()
    s.choose_streams(["messages"])
    s.next()
    s.set_requirements(base_url=source["base_url"], executor="local")
    s.next()
    wiz = Wizard(session=s, executor="local", insert_cells=False)
    key, password = one(wiz, "purelink-key"), one(wiz, "purelink-key-password")
    assert type(key).__name__ == type(password).__name__ == "Password"
    assert "TWILIO_AUTH_TOKEN" in password.placeholder
    assert "variables TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN" in text_of(wiz.widget)
    key.value = source["account_sid"]
    one(wiz, "purelink-validate").click()  # the password is missing: nothing is sent
    assert "both" in wiz.message.value and not s.state.credential_ok
    key.value, password.value = source["account_sid"], source["auth_token"]
    one(wiz, "purelink-validate").click()
    assert wiz.wait(60) and s.state.credential_ok, wiz.message.value
    assert key.value == password.value == ""  # the widgets keep neither
    assert "purelink-key-ok" in wiz.screen.status.value and Vault().get("TWILIO_AUTH_TOKEN") == source["auth_token"]
