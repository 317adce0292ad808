"""The notebook's credentials screen for a source whose HTTP Basic has a password of its own
(an imported Twilio connector): two masked fields, both required, checked together."""

from __future__ import annotations

import pytest

from purelink.secrets.vault import Vault
from purelink_jupyter.wizard import Wizard
from tests.wizard.test_twilio_wizard import at_credentials

from .test_wizard import one, text_of


@pytest.mark.slow
def test_the_key_and_the_password_are_two_masked_fields(small_sandbox, workspace):
    source = small_sandbox.sources()["twilio"]
    s = at_credentials(workspace.root, source)
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
