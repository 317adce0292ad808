"""`purelink sandbox` / `python -m purelink.sandbox` from the command line."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import httpx
import pytest

from purelink.sandbox import SandboxError, serve

CEILING_S = 120


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_module_serves_until_stopped(stop_signal):
    canary = "sk_test_canary_Cli9Vb3Xn7Qm2Lk5"
    proc = subprocess.Popen([sys.executable, "-m", "purelink.sandbox", "--port", "0", "--customers", "30",
                             "--api-key", canary, "--rate-limit", "100"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline()]  # an event: the banner; it ends the wait, however slow the machine
        while lines[-1] and "Press Ctrl-C" not in lines[-1] and len(lines) < 60:  # one block per protocol
            lines.append(proc.stdout.readline())
        text = "".join(lines)
        assert "Press Ctrl-C" in text, (text, proc.stderr.read() if proc.poll() is not None else "")
        base = re.search(r"base URL (http://\S+/v1)", text).group(1)
        key = re.search(r"api key: (sk_test_\S+)", text).group(1)
        assert canary not in text and "rate limit 100/s" in text
        assert httpx.get(f"{base}/customers", auth=(canary, "")).status_code == 200
        assert httpx.get(f"{base}/customers", auth=(key, "")).json()["data"]
    finally:
        proc.send_signal(stop_signal)
        # A ceiling, not a duration: the exit is the event; a loaded 2-core machine may take a while.
        out, err = proc.communicate(timeout=CEILING_S)
    assert proc.returncode == 0, err
    assert canary not in out + err and "sandbox stopped" in out


def test_command_module_imports_stay_light():
    code = ("import sys, purelink.cli.sandbox, purelink.sandbox; "
            "print('http.server' in sys.modules, 'purelink.sandbox.stripe_data' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=CEILING_S).stdout
    assert out.split() == ["False", "False"]


def test_bad_settings_are_one_paragraph():
    done = subprocess.run([sys.executable, "-m", "purelink.sandbox", "--port", "0", "--fail-rate", "2"],
                          check=False, capture_output=True, text=True, timeout=CEILING_S)
    assert done.returncode == 1 and "fail rate" in done.stderr and "Traceback" not in done.stderr


def test_busy_port_is_a_clear_error():
    with serve(customers=1) as first:
        port = int(first.url.rsplit(":", 1)[1])
        with pytest.raises(SandboxError, match=f"could not listen on 127.0.0.1:{port}"):
            serve(customers=1, port=port)
