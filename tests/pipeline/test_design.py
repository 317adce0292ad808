"""design(recipe, spec, schema) is a pure function: strategy, limits, validations, storage, extras."""

from __future__ import annotations

import pytest

from purelink.catalog.spec import get_spec
from purelink.discovery.probe import Column
from purelink.pipeline.design import Plan, design
from purelink.recipes import parse_recipe


def recipe(streams: str = "[{name: customers, columns: [id, email, name, address.city]}]", **requirements):
    req = ", ".join(f"{k}: {v}" for k, v in requirements.items())
    return parse_recipe(f"name: stripe_customers\nsource: {{name: stripe}}\nstreams: {streams}\n"
                        f"requirements: {{{req}}}\n")


def test_poc_plan_for_stripe_customers():
    plan = design(recipe(history_start="2024-01-01"), get_spec("stripe"))
    assert isinstance(plan, Plan) and plan.purpose == "poc"
    assert plan.production == [] and plan.schedule is None
    assert plan.rate_limit == 25 and plan.concurrency == 8
    s = plan.stream("customers")
    assert s.table == "stripe.customers" and s.primary_key == ["id"]
    assert s.strategy == "incremental" and s.cursor == "created"
    assert "2024-01-01" in s.incremental and "created[gte] / created[lt]" in s.incremental
    assert s.pagination == ("cursor: starting_after from the last record's id while has_more is true, "
                            "100 per page")
    assert [(v.kind, v.field) for v in s.validations] == [("required", "id")]
    assert [(v.kind, v.field) for v in s.suggested] == [("email", "email")]  # offered, not applied
    assert "suggested   email: email format (not applied unless you choose it" in plan.text()
    assert "a --full-refresh drops the columns no longer chosen; an incremental run keeps their old values" \
        in plan.text()
    assert s.write.startswith("merge on id") and "zone maps" in s.indexes[0]
    assert any("not picked up" in n for n in s.notes)  # created is insert-only
    assert "Retry-After" in plan.retries and "8 attempts" in plan.retries
    assert "data/purelink.duckdb" in plan.storage


def test_production_extras_and_schedule():
    plan = design(recipe(purpose="production", frequency="daily"), get_spec("stripe"))
    text = " ".join(plan.production)
    for expected in ("correlation id", "_purelink.dead_letters", "5%", "container"):
        assert expected in text
    assert plan.schedule == "0 3 * * *" and "purelink recipes run stripe_customers" in text
    assert "production" in plan.text() and "cron" in plan.text()


def test_validations_from_the_schema_when_every_field_is_loaded():
    schema = {"customers": [Column("id", "VARCHAR", False), Column("email", "VARCHAR", True),
                            Column("billing.customer_email", "VARCHAR", True),
                            Column("emails", "VARCHAR[]", True),
                            Column("items", "STRUCT(a BIGINT)[]", False, heavy=True)]}
    plan = design(recipe("[{name: customers}]"), get_spec("stripe"), schema)
    s = plan.stream("customers")
    assert [(v.kind, v.field) for v in s.validations] == [("required", "id")]
    assert [(v.kind, v.field) for v in s.suggested] == [("email", "email"), ("email", "billing.customer_email")]
    assert any("items may slow extraction" in n for n in s.notes)
    assert s.columns is None and "all fields" in plan.text()


def test_user_validations_are_kept_and_not_doubled():
    r = recipe("[{name: customers, columns: [id, email], validations: [{kind: email, field: email}]}]")
    plan = design(r, get_spec("stripe")).stream("customers")
    assert [(v.kind, v.field) for v in plan.validations] == [("email", "email"), ("required", "id")]
    assert plan.suggested == []  # chosen already: applied, not offered again


def test_recipe_rate_limit_and_postgres_indexes():
    data = recipe(rate_limit=5, concurrency=2).model_dump()
    data["destination"] = {"kind": "postgres", "url": "postgresql://u@h/db"}
    r = type(recipe()).model_validate(data)
    plan = design(r, get_spec("stripe"))
    assert plan.rate_limit == 5 and plan.concurrency == 2 and plan.rate_limit_note.startswith("set in the recipe")
    assert plan.stream("customers").indexes == ["PRIMARY KEY (id)", "btree on (created)"]
    assert "PostgreSQL postgresql://u@h/db" in plan.storage


def test_a_stream_without_time_filter_is_a_full_reload():
    spec = get_spec("stripe")
    streams = [s.model_copy(update={"time_filter": None}) for s in spec.streams]
    spec = spec.model_copy(update={"streams": streams})
    s = design(recipe(), spec).stream("customers")
    assert s.strategy == "full" and s.cursor is None and "every run reads the whole stream" in s.incremental


@pytest.mark.parametrize("frequency", ["once", "hourly", "daily"])
def test_design_is_pure(frequency):
    r, spec = recipe(frequency=frequency), get_spec("stripe")
    assert design(r, spec) == design(r, spec)
    assert design(r, spec).text() == design(r, spec).text()
