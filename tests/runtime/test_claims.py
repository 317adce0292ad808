"""Which table a stream loads into when its default name is already held by another source."""

from __future__ import annotations

import pytest

from purelink.runtime.destinations.base import Claim, check_claims
from purelink.runtime.errors import RuntimeFailure

HELD = {("raw", "production"): ("plant_a", "10.0.0.1:5432/plant", "public.production", "production")}


def claim(source: str, *, pipeline: str = "plant_b", chosen: bool = False, table: str = "production") -> Claim:
    return Claim(stream="public.production", schema="raw", table=table, pipeline=pipeline, source=source,
                 source_table="public.production", chosen=chosen)


@pytest.mark.parametrize(("source", "expected"), [
    ("10.0.0.2:5432/plant", "10_0_0_2_5432_plant_production"),  # same database name: the server says it
    ("10.0.0.2:5432/bodies", "bodies_production"),  # another database: its name is enough
    ("http://127.0.0.1:8080/v1", "127_0_0_1_8080_v1_production"),
])
def test_a_default_name_held_by_another_source_gives_way(source, expected):
    resolved, fresh = check_claims([claim(source)], HELD, fold_case=False)
    assert [c.table for c in resolved] == [expected] and fresh == resolved
    assert resolved[0].renamed_from == "production" and expected in resolved[0].note()
    # The next run finds the table it got by its owner, not a new name.
    owners = {**HELD, ("raw", expected): ("plant_b", source, "public.production", expected)}
    again, fresh = check_claims([claim(source)], owners, fold_case=False)
    assert [c.table for c in again] == [expected] and fresh == [] and again[0].renamed_from is None


def test_the_same_source_table_gets_its_own_table_unless_named_and_a_chosen_name_is_refused():
    # another recipe reading the same source table: a table of its own, named after the recipe
    resolved, fresh = check_claims([claim("10.0.0.1:5432/plant", pipeline="other")], HELD, fold_case=False)
    assert [c.table for c in resolved] == ["other_production"] and fresh == resolved
    assert resolved[0].shared_with == "plant_a" and "belongs to recipe plant_a" in resolved[0].note()
    # sharing is a choice: naming the table with `into` loads into it
    shared, fresh = check_claims([claim("10.0.0.1:5432/plant", pipeline="other", chosen=True)], HELD,
                                 fold_case=False)
    assert [c.table for c in shared] == ["production"] and fresh == []
    with pytest.raises(RuntimeFailure, match="already holds") as failure:
        check_claims([claim("10.0.0.2:5432/plant", chosen=True)], HELD, fold_case=False)
    assert "into" in failure.value.guidance
