"""`purelink el-agent` through a real pseudo-terminal: from typing "S" at the source prompt to a
successful run against the sandbox, with the key typed hidden at the prompt."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

import duckdb
import pexpect
import pytest

from purelink.cli import build_parser


@pytest.fixture
def agent_env(private_home) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("STRIPE_API_KEY", "PURELINK_WORKSPACE")}
    env.update(PURELINK_HOME=str(private_home), PURELINK_VAULT_KEYRING="0", TERM="xterm",
               PROMPT_TOOLKIT_NO_CPR="1", PYTHONUNBUFFERED="1")
    return env


@pytest.mark.slow
def test_from_a_source_name_to_a_run_in_a_terminal(sandbox, workspace, agent_env):
    child = pexpect.spawn(sys.executable, ["-m", "purelink.el_agent", "--workspace", str(workspace),
                                           "--executor", "local"],
                          env=agent_env, cwd=str(workspace), encoding="utf-8", timeout=60,
                          dimensions=(50, 200))
    transcript = []
    child.logfile_read = _Collect(transcript)
    try:
        _to_the_run(child, sandbox)
        child.expect("Run the full pipeline now")
        child.sendline("")
        child.expect("status:      success", timeout=120)
        child.expect("Pipeline done.")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, "".join(transcript)[-3000:]
    assert sandbox.api_key not in "".join(transcript)  # typed hidden, never shown
    con = duckdb.connect(str(workspace / "data" / "purelink.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT count(*) FROM stripe.customers").fetchone()[0]
    finally:
        con.close()
    assert rows > 100
    assert (workspace / "recipes" / "stripe_customers_v1.yaml").is_file()
    # every command the result stage prints as a next step works as typed, from where it was typed
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", "".join(transcript))
    steps = re.search(r"Next: (.*)", text)[1].split("; ")
    commands = [step.split(": ", 1)[-1].strip() for step in steps if "purelink " in step]
    assert any(c.startswith("purelink recipes run") for c in commands), steps
    for command in commands:
        argv = shlex.split(command)
        proc = subprocess.run(check=False, args=[sys.executable, "-m", "purelink.cli", *argv[1:]],
                              cwd=workspace, env=agent_env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=600)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, command + proc.stdout + proc.stderr


@pytest.mark.slow
def test_answers_piped_without_a_terminal(sandbox, workspace, agent_env):
    answers = ["Strp", "1", "", "", "", "", "", sandbox.stripe_base_url, "", "", sandbox.api_key, "back", "",
               "", "", "quit"]
    done = subprocess.run([sys.executable, "-m", "purelink.el_agent", "--workspace", str(workspace),
                           "--executor", "local"], input="\n".join(answers) + "\n", capture_output=True,
                          text=True, env=agent_env, timeout=120, check=False)
    out = done.stdout
    assert "No source named 'Strp'" in out and "1) Stripe (Payment processing)" in out
    assert out.count("[4/10] Credentials") == 2 and out.count("[3/10] Requirements") == 1  # `back` once
    assert "Use the key found (vault entry stripe: sk_test_" in out  # saved the first time
    assert "[PASS] storage writes" in out  # tested
    assert "Stopped at the run stage" in out and done.returncode == 1
    assert sandbox.api_key not in out
    resumed = subprocess.run([sys.executable, "-m", "purelink.el_agent", "--workspace", str(workspace),
                              "--resume"], input="quit\n", capture_output=True, text=True, env=agent_env,
                             timeout=60, check=False)
    assert "[9/10] Run" in resumed.stdout and "Stopped at the run stage" in resumed.stdout


def test_the_command_is_registered():
    args = build_parser("el-agent").parse_args(["el-agent", "--source", "stripe", "--executor", "local"])
    assert args._module == "purelink.cli.el_agent" and args.source == "stripe"


def _to_the_run(child, sandbox) -> None:
    """Through the stages, typing as a user would, up to the question of the full run."""
    child.expect("Source")
    child.send("S")  # the completion menu opens while typing
    labels, seen = ["Salesforce \\(CRM platform\\)", "Stripe \\(Payment processing\\)",
                    "Shopify \\(E-commerce\\)"], set()
    while len(seen) < len(labels):  # in the ranking's order, whatever it is
        seen.add(child.expect(labels))
    child.send("tripe\r")
    child.expect("Streams to load")
    child.sendline("1")
    for question in ("Purpose", "How often", "Load history from", "Destination"):
        child.expect(question)
        child.sendline("")
    child.expect("API base URL")
    child.sendline(sandbox.stripe_base_url)
    child.expect("key ready")
    child.sendline("")
    child.expect("Save the key encrypted in the vault")
    child.sendline("")
    child.expect(r"Stripe key \(input hidden\): ")
    child.sendline("sk_test_typo_typo_typo")  # a wrong key is refused, and asked again
    child.expect("rejected the key")
    child.expect(r"Stripe key \(input hidden\): ")
    child.sendline(sandbox.api_key)
    child.expect("validated and encrypted in the vault")
    child.expect("Columns of customers")
    child.sendline("")
    child.expect("Continue with this plan")
    child.sendline("")
    child.expect(r"\[PASS\] credentials: Stripe accepted the key")
    child.expect("Notebook cell")
    child.expect(r"\[PASS\] storage writes: customers: 5 rows")


@pytest.mark.slow
def test_ctrl_c_during_the_run_says_it_stopped_and_the_next_run_resumes(sandbox_factory, workspace, agent_env):
    """Ctrl-C in the run stage stops the run as asked: not called a failure, what was committed is
    kept, and Enter runs again from there to the whole table."""
    api = sandbox_factory(seed=0, rate_limit=4)  # slow enough to be stopped part way
    child = pexpect.spawn(sys.executable, ["-m", "purelink.el_agent", "--workspace", str(workspace),
                                           "--executor", "local"],
                          env=agent_env, cwd=str(workspace), encoding="utf-8", timeout=120, dimensions=(50, 200))
    transcript: list[str] = []
    child.logfile_read = _Collect(transcript)
    try:
        _to_the_run(child, api)
        child.expect("Run the full pipeline now")
        child.sendline("")
        child.expect(r"Progress: #*\.* ?[1-9][\d,]*/")  # records committed
        child.sendintr()
        child.expect(r"Stopped at your request, not by an error: ([\d,]+) records committed are kept")
        kept = int(child.match.group(1).replace(",", ""))
        child.expect(r"Enter to run again \(it resumes\)")
        child.sendline("")
        child.expect("status:      success")
        child.expect("Pipeline done.")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    text = "".join(transcript)
    assert child.exitstatus == 0 and "did not succeed" not in text, text[-3000:]
    assert 0 < kept < 3421
    con = duckdb.connect(str(workspace / "data" / "purelink.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*), count(DISTINCT id) FROM stripe.customers").fetchone() == (3421, 3421)
    finally:
        con.close()


class _Collect:
    def __init__(self, into: list[str]) -> None:
        self.into = into

    def write(self, text: str) -> None:
        self.into.append(text)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("name, hint", [("Acme Tickets", None), ("acmedesk", "/tickets")])
def test_an_unknown_api_is_found_by_the_assistant_from_the_terminal(sandbox, workspace, agent_env, name, hint):
    """Acme Tickets is in no catalog and has no OpenAPI document: with no Gemini key the offline
    assistant probes it with the typed key, shows its rounds, and the connector is saved.
    For a name whose words are no collection ("acmedesk", found by a new user) the assistant said
    "Give the path of a collection (for example /tickets) ... then try again" and the terminal asked
    for nothing, back to the source prompt. It now asks, and the path typed is probed next round."""
    acme = sandbox.sources()["acme"]
    env = {k: v for k, v in agent_env.items() if k != "GEMINI_API_KEY"}
    child = pexpect.spawn(sys.executable, ["-m", "purelink.el_agent", "--workspace", str(workspace),
                                           "--executor", "local"],
                          env=env, cwd=str(workspace), encoding="utf-8", timeout=90, dimensions=(50, 200))
    transcript = []
    child.logfile_read = _Collect(transcript)
    try:
        child.expect("Source")
        child.sendline(name)
        child.expect("let the assistant find this API")
        child.expect("Choose a number")
        child.sendline("a")
        child.expect("answering: offline rules")
        child.expect("Base URL of the API")
        child.sendline(acme["base_url"])
        child.expect("API key or token")
        child.sendline(acme["api_key"])
        if hint:
            child.expect("Give the path of a collection")
            child.expect("Hint: a collection's path")
            child.sendline(hint)
        child.expect(r"round \d+ \(offline rules\): works")
        child.expect("streams: .*tickets")
        child.expect("Use this connector")
        child.sendline("")
        child.expect(r"saved connectors/\w+\.yaml")
        child.expect("Streams to load")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert acme["api_key"] not in "".join(transcript)  # typed hidden, never echoed
    [saved] = (workspace / "connectors").glob("*.yaml")
    assert "/tickets" in saved.read_text()


def test_a_date_that_is_no_date_is_asked_again_and_the_base_url_kept(sandbox, workspace, agent_env):
    # "yesterday" was accepted, then two prompts later a pydantic error restarted the stage, whose
    # base URL had become the real API's: the sandbox's key would have gone to api.stripe.com.
    answers = ["help", "1", "", "", "yesterday", "2024-01-01", "", "", "quit"]
    done = subprocess.run([sys.executable, "-m", "purelink.el_agent", "--workspace", str(workspace),
                           "--source", "stripe", "--base-url", sandbox.stripe_base_url, "--executor", "local"],
                          input="\n".join(answers) + "\n", capture_output=True, text=True, env=agent_env,
                          timeout=120, check=False)
    out = done.stdout + done.stderr
    assert "history_start must be an ISO date such as 2024-01-01, not 'yesterday'" in out, out
    assert "Type your answer and press Enter (Enter alone: 1)" in out and "no stream named 'help'" not in out
    assert "pydantic" not in out and "validation error" not in out
    assert out.count("[3/10] Requirements") == 1 and f"API base URL: {sandbox.stripe_base_url}" in out
    assert "[4/10] Credentials" in out and "api.stripe.com" not in out
    state = json.loads((workspace / ".purelink" / "session.json").read_text())
    assert state["base_url"] == sandbox.stripe_base_url.rstrip("/") and state["requirements"]["history_start"] == \
        "2024-01-01"
