"""`purelink sources import`: every guess printed; those below 80% are questions, answered at the
prompt (a terminal), with --set, or accepted with --accept-guesses; nothing saved without --yes or
a yes at the prompt; errors are one paragraph without a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pexpect
import yaml

DOCS = Path(__file__).parents[2] / "fixtures" / "openapi"
HUBSPOT = DOCS / "hubspot" / "hubspot_like.json"
CLI = [sys.executable, "-m", "purelink.cli"]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "sources", "import", *args], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120, check=False)


def test_unanswered_questions_stop_a_script_and_say_how_to_answer(tmp_path):
    done = run(str(HUBSPOT), "--yes", cwd=tmp_path)
    assert done.returncode != 0 and "Traceback" not in done.stderr + done.stdout
    assert "below 80% and unanswered" in done.stderr and "auth" in done.stderr and "--set FIELD=VALUE" in done.stderr
    assert "? auth = " in done.stdout and "% sure" in done.stdout  # the guesses were shown first
    assert not (tmp_path / "connectors").exists()


def test_answers_as_flags_are_applied_and_saved_where_recipes_find_them(tmp_path):
    answers = ["auth={style: bearer, env: CRM_TOKEN}", "rate_limit={requests_per_second: 9}", "concurrency=3",
               "contacts.params.archived=false", "contacts.cursor_field=updatedAt"]
    args = [a for answer in answers for a in ("--set", answer)]
    done = run(str(HUBSPOT), "--name", "crm", "--streams", "contacts", *args, cwd=tmp_path)
    assert done.returncode != 0 and "confirm with --yes" in done.stderr  # not saved without --yes
    done = run(str(HUBSPOT), "--name", "crm", "--streams", "contacts", *args, "--yes", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    saved = yaml.safe_load((tmp_path / "connectors" / "crm.yaml").read_text())
    assert saved["auth"]["env"] == "CRM_TOKEN" and saved["concurrency"] == 3
    assert saved["rate_limit"]["requests_per_second"] == 9 and [s["name"] for s in saved["streams"]] == ["contacts"]
    assert "next: purelink recipes new crm_contacts --source crm" in done.stdout
    # `purelink sources` lists it beside the catalog, and finds it by its name (typed in any case)
    listed = subprocess.run([*CLI, "sources", "cr", "--format", "json"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, check=True)
    assert "crm" in [s["name"] for s in json.loads(listed.stdout)]
    (tmp_path / "connectors" / "crm.yaml").rename(tmp_path / "connectors" / "Crm.yaml")
    shown = subprocess.run([*CLI, "sources", "show", "Crm", "--format", "json"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=60, check=False)
    assert shown.returncode == 0 and json.loads(shown.stdout)["streams"][0]["name"] == "contacts", shown.stderr


def test_a_terminal_is_asked_each_question(tmp_path):
    env = {**os.environ, "COLUMNS": "200"}
    child = pexpect.spawn(CLI[0], [*CLI[1:], "sources", "import", str(HUBSPOT), "--name", "crm", "--streams",
                                   "contacts"], cwd=str(tmp_path), env=env, encoding="utf-8", timeout=60)
    try:
        asked = []
        while True:
            found = child.expect([r"\n  ([\w.]+) \[[^\n]*\]: ", r"Save connectors/crm.yaml"])
            if found == 1:
                break
            field = child.match.group(1)
            asked.append(field)
            if field == "auth":
                child.sendline("{style: bearer, env: CRM_TOKEN}")
            elif field == "rate_limit":
                child.sendline("7")  # a plain number is requests a second
            elif field == "concurrency" and asked.count(field) == 1:
                child.sendline("lots")  # refused, with why, and asked again: the auth answered stays
                child.expect(r"Not taken: The corrected spec is invalid: [^\n]+[^.]\. Type another value, or Enter to keep")
            else:
                child.sendline("")
        child.sendline("y")
        child.expect("saved ")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert "auth" in asked and asked.count("concurrency") == 2 and "contacts.params.archived" in asked
    assert child.exitstatus == 0
    saved = yaml.safe_load((tmp_path / "connectors" / "crm.yaml").read_text())
    assert saved["auth"]["env"] == "CRM_TOKEN"
    assert "rate_limit" in asked and saved["rate_limit"]["requests_per_second"] == 7


def test_a_guessed_rate_limit_is_called_a_guess_when_a_recipe_uses_it(tmp_path):
    # "the limit Twilio documents" was said of 5 requests/s the import had guessed (a new user's trial).
    done = run(str(DOCS / "twilio" / "twilio.json.gz"), "--yes", "--accept-guesses", "--name", "tw", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    new = subprocess.run([*CLI, "recipes", "new", "msgs", "--source", "tw", "--streams", "messages",
                          "--var", "AccountSid=AC123"], cwd=tmp_path, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=120, check=False)
    assert new.returncode == 0, new.stderr
    rate = next(line for line in new.stdout.splitlines() if line.startswith("rate"))
    assert "5 requests/s, a cautious guess" in rate and "states no limit" in rate and "documents (" not in rate
