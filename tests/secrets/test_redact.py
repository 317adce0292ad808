"""Redaction of registered secrets in text, logs, data, exceptions and files."""

from __future__ import annotations

import base64
import io
import json
import logging
import stat
from pathlib import Path
from urllib.parse import quote, quote_plus, urlencode

import pytest

from purelink.errors import CredentialError
from purelink.secrets import redact
from purelink.secrets.secret import Secret

KEY = "sk_test_51HcanaryQ7xZr2LmNpW9vB3kTy8sDfGh"
PASSWORD = "p@ss/w0rd+x=y&z ünïcode 42"


@pytest.fixture(autouse=True)
def registry():
    redact.clear()
    redact.register(KEY)
    redact.register(Secret(PASSWORD))
    yield
    redact.clear()


def assert_clean(text: str) -> None:
    for value in (KEY, PASSWORD):
        assert value not in text
        assert not redact.contains_secret(text)


def test_plain_value() -> None:
    out = redact.redact(f"calling with {KEY} now")
    assert out == "calling with sk_test_****DfGh now"
    assert redact.redact(f"pw={PASSWORD};") == "pw=****e 42;"


def test_untouched_text_is_returned_as_is() -> None:
    text = "nothing secret here: sk_test_ and Basic aGVsbG86d29ybGQ="
    assert redact.redact(text) == text
    assert not redact.contains_secret(text)


@pytest.mark.parametrize("encode", [
    lambda v: quote(v, safe=""),
    quote,
    quote_plus,
    lambda v: urlencode({"api_key": v}),
    lambda v: json.dumps({"password": v}),
    lambda v: json.dumps({"password": v}, ensure_ascii=False),
])
def test_encoded_forms(encode) -> None:
    for value in (KEY, PASSWORD):
        text = f"GET https://api.example.com/x?{encode(value)} HTTP/1.1"
        assert_clean(redact.redact(text))
        assert redact.contains_secret(text)


@pytest.mark.parametrize("user", ["", "bob", "ab", "a", "service-account@example.com"])
def test_basic_auth_header(user: str) -> None:
    for value in (KEY, PASSWORD):
        token = base64.b64encode(f"{user}:{value}".encode()).decode()
        out = redact.redact(f"Authorization: Basic {token}")
        assert out == "Authorization: Basic ****"
    stripe_style = base64.b64encode(f"{KEY}:".encode()).decode()  # key as user, empty password
    assert redact.redact(f"authorization: basic {stripe_style}") == "authorization: basic ****"


@pytest.mark.parametrize("before", ["", "x", "xy", "xyz", '{"auth": "'])
def test_value_inside_any_base64_blob(before: str) -> None:
    blob = base64.b64encode(f"{before}{KEY}trailing".encode()).decode()
    out = redact.redact(f"config={blob}")
    assert out != f"config={blob}"
    assert redact.contains_secret(blob)


def test_short_values_are_not_registered() -> None:
    redact.register("abc")
    redact.register("admin")
    assert redact.redact("abc admin") == "abc admin"


def test_value_containing_another_is_replaced_whole() -> None:
    longer = KEY + "EXTRA_SUFFIX_0123456789"
    redact.register(longer)
    assert redact.redact(longer) == "sk_test_****6789"


def test_unregister_and_clear() -> None:
    redact.unregister(KEY)
    assert redact.redact(KEY) == KEY
    redact.clear()
    assert redact.redact(PASSWORD) == PASSWORD


def test_mask() -> None:
    assert redact.mask(KEY) == "sk_test_****DfGh"
    assert redact.mask("rk_live_" + "A" * 30 + "wxyz") == "rk_live_****wxyz"
    assert redact.mask("sk_test_short") == "****"
    assert redact.mask("a-long-password-without-prefix") == "****efix"
    assert redact.mask("") == "****"


def test_bytes() -> None:
    data = f"line {KEY}\n".encode() + b"\xff\xfe raw"
    out = redact.redact_bytes(data)
    assert KEY.encode() not in out and out.endswith(b"\xff\xfe raw")
    assert redact.contains_secret(data) and not redact.contains_secret(out)


def test_redact_data() -> None:
    event = {"event": "error", "url": f"https://x/?key={quote(KEY)}", "nested": [{"auth": PASSWORD}, 3, None],
             KEY: "as a key", "tuple": (KEY,)}
    out = redact.redact_data(event)
    assert_clean(json.dumps(out, ensure_ascii=False))
    assert out["nested"][1] == 3 and isinstance(out["tuple"], tuple)
    assert KEY in json.dumps(event)  # the original is left alone


def test_redact_exception() -> None:
    exc = CredentialError(f"bad key {KEY}", f"try {PASSWORD}")
    exc.add_note(f"note {KEY}")
    same = redact.redact_exception(exc)
    assert same is exc
    assert_clean(str(exc) + exc.message + exc.guidance + "".join(exc.__notes__))
    with pytest.raises(ValueError) as info:
        raise redact.redact_exception(ValueError("connect", f"https://u:{quote(PASSWORD)}@db/x"))
    assert_clean(str(info.value))


def test_format_exception() -> None:
    try:
        raise RuntimeError(f"request failed for {KEY}")
    except RuntimeError as exc:
        text = redact.format_exception(exc)
    assert "RuntimeError" in text and "Traceback" in text
    assert_clean(text)


def test_redact_file(tmp_path: Path) -> None:
    path = tmp_path / "execution.log"
    path.write_text(f"ok\nusing {KEY}\nBasic {base64.b64encode(f'u:{PASSWORD}'.encode()).decode()}\n")
    path.chmod(0o640)
    assert redact.redact_file(path) is True
    assert_clean(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert redact.redact_file(path) is False
    assert [p.name for p in tmp_path.iterdir()] == ["execution.log"]


# --- logging -----------------------------------------------------------------------------------


@pytest.fixture
def captured():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("purelink.test.redact")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield logger, handler, stream
    logger.removeHandler(handler)
    logger.filters.clear()
    logger.propagate = True


def test_filter_redacts_message_args_and_exception(captured) -> None:
    logger, handler, stream = captured
    handler.addFilter(redact.RedactingFilter())
    logger.info(f"raw message with {KEY}")
    logger.info("args %s and %r and %d", KEY, PASSWORD, 3)
    logger.info("mapping %(key)s", {"key": quote_plus(PASSWORD)})
    try:
        raise ValueError(f"the server said no to {KEY}")
    except ValueError:
        logger.exception("failed with %s", PASSWORD)
    logger.info("stack", stack_info=True)
    text = stream.getvalue()
    assert_clean(text)
    assert "sk_test_****DfGh" in text and "ValueError: the server said no to sk_test_****DfGh" in text
    assert "args sk_test_****DfGh and" in text and " and 3" in text


def test_filter_on_a_broken_format_string(captured) -> None:
    logger, handler, stream = captured
    handler.addFilter(redact.RedactingFilter())
    broken = "two %s %s but one arg"  # a mistake someone will make one day
    logger.info(broken, KEY)
    assert_clean(stream.getvalue())
    assert "two %s %s but one arg" in stream.getvalue()


def test_install_covers_records_from_child_loggers(captured) -> None:
    logger, _, stream = captured
    flt = redact.install(logger)
    assert redact.install(logger) is flt  # idempotent
    logging.getLogger("purelink.test.redact.child").warning("child %s", KEY)
    assert "child sk_test_****DfGh" in stream.getvalue()
    assert_clean(stream.getvalue())


def test_install_on_root_by_name() -> None:
    root = logging.getLogger()
    flt = redact.install()
    try:
        assert flt in root.filters
    finally:
        root.removeFilter(flt)
        for h in root.handlers:
            h.removeFilter(flt)


def test_filter_is_free_when_nothing_is_registered(captured) -> None:
    logger, handler, stream = captured
    redact.clear()
    handler.addFilter(redact.RedactingFilter())
    logger.info("plain %s", "text")
    assert stream.getvalue().strip() == "INFO purelink.test.redact plain text"
