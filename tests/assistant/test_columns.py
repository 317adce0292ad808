"""Column descriptions and personal-data flags, and how they choose default columns and checks."""

from __future__ import annotations

import pytest

from purelink.assistant import OfflineAssistant, get_assistant
from purelink.assistant.models import ColumnAdvice, ColumnNote
from purelink.catalog.spec import get_spec
from purelink.discovery.probe import Column


def col(path, type_="VARCHAR", examples=()):
    return Column(path, type_, nullable=True, examples=list(examples))


@pytest.mark.parametrize("stream, column, pii, validation, include", [
    ("users", col("email"), "email", "email", None),
    ("tickets", col("contact", examples=["ada@example.com", "ben@example.org"]), "email", "email", None),
    ("tickets", col("requester.email"), "email", "email", True),
    ("tickets", col("requester.name"), "name", "none", True),
    ("organizations", col("name"), "none", "none", None),
    ("users", col("name"), "name", "none", None),
    ("users", col("last_login_ip"), "ip_address", "none", None),
    ("tickets", col("shipping_zip_code_count", "BIGINT"), "none", "none", None),
    ("users", col("ip_address"), "ip_address", "none", None),
    ("users", col("ssn"), "government_id", "none", False),
    ("payments", col("card_number"), "financial", "none", False),
    ("users", col("api_token"), "credential", "none", False),
    ("customers", col("address.city"), "address", "none", None),
    ("customers", col("phone"), "phone", "none", None),
    ("customers", col("created_at", "TIMESTAMP"), "none", "none", None),
])
def test_offline_flags(stream, column, pii, validation, include):
    [note] = OfflineAssistant().describe_columns(get_spec("stripe"), stream, [column]).columns
    assert (note.pii, note.validation, note.include) == (pii, validation, include)
    assert note.description


def test_defaults_leave_out_secrets_and_take_what_the_advice_includes():
    columns = [col("id"), col("email"), col("ssn"), col("api_token"), col("requester", "STRUCT(email VARCHAR)"),
               col("requester.email")]
    advice = OfflineAssistant().describe_columns(get_spec("stripe"), "customers", columns)
    chosen = advice.default_columns(columns)
    assert "ssn" not in chosen and "api_token" not in chosen
    assert {"id", "email", "requester.email"} <= set(chosen)
    assert [(v.kind, v.field) for v in advice.validations(chosen)] == [("email", "email"), ("email", "requester.email")]
    assert advice.validations(["id"]) == []
    excluded = ColumnAdvice(stream="customers", answered_by="x",
                            columns=[ColumnNote(path="email", description="e", include=False)])
    assert "email" not in excluded.default_columns(columns)


def test_gemini_sees_shapes_not_values_and_cannot_invent_columns(fake_gemini):
    fake_gemini.answer({"columns": [{"path": "email", "description": "the customer's email", "pii": "email",
                                     "validation": "email"},
                                    {"path": "password_hash", "description": "made up", "pii": "credential"}]})
    columns = [col("id", examples=["cus_9Qx"]), col("email", examples=["ada.rosen42@example.com"])]
    advice = get_assistant().describe_columns(get_spec("stripe"), "customers", columns)
    assert [n.path for n in advice.columns] == ["email"] and advice.answered_by == "Gemini (gemini-2.5-flash)"
    prompt = fake_gemini.requests[0].prompt
    assert "- email: VARCHAR; value shapes: aaa.aaaaa99@aaaaaaa.aaa" in prompt and "aaa_9Aa" in prompt
    assert "rosen" not in prompt and "example.com" not in prompt and "cus_9Qx" not in prompt
