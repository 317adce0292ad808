"""Ranking for the source combobox: prefix, then typos, then description words."""

from __future__ import annotations

import time

import pytest

from purelink.catalog.ranking import Suggestion, distance, rank
from purelink.catalog.spec import ConnectorSpec, catalog


def spec(name: str, title: str, description: str, category: str, kind: str = "rest") -> ConnectorSpec:
    return ConnectorSpec(name=name, title=title, description=description, category=category, kind=kind)


FIXTURE = [spec("stripe", "Stripe", "Payment processing", "Payments"),
           spec("salesforce", "Salesforce", "CRM platform", "CRM"),
           spec("shopify", "Shopify", "E-commerce", "E-commerce"),
           spec("hubspot", "HubSpot", "CRM for marketing, sales and service", "CRM"),
           spec("github", "GitHub", "Code hosting and issue tracking", "Developer tools"),
           spec("postgres", "PostgreSQL", "Relational database", "Database", kind="database"),
           spec("google_sheets", "Google Sheets", "Spreadsheets", "Files")]


def titles(query: str, **kw) -> list[str]:
    return [s.title for s in rank(query, specs=FIXTURE, **kw)]


def test_s_offers_titles_starting_with_s_then_titles_with_an_s_word():
    found = rank("S")
    assert [s.title for s in found][:3] == ["Salesforce", "Shopify", "Stripe"]
    assert [s.label for s in found][:3] == ["Salesforce (CRM platform)", "Shopify (E-commerce)",
                                            "Stripe (Payment processing)"]
    # a word inside a title counts as people read it: Hub|Spot, Postgre|SQL (found in a new-user trial)
    assert {"HubSpot", "PostgreSQL"} <= {s.title for s in found[3:]}
    assert found[2].score > found[3].score
    assert all(s.why == "prefix" and s.description for s in found)
    assert isinstance(found[0], Suggestion) and found[0].name == "salesforce"


@pytest.mark.parametrize("query, first", [
    ("strp", "Stripe"), ("stirpe", "Stripe"), ("hubspt", "HubSpot"), ("shopfy", "Shopify"), ("gihtub", "GitHub"),
    ("salesfroce", "Salesforce"), ("postgrse", "PostgreSQL"),
])
def test_typos_find_the_source(query, first):
    found = rank(query, specs=FIXTURE)
    assert found[0].title == first and found[0].why == "fuzzy"


@pytest.mark.parametrize("query, expected", [
    ("payments", ["Stripe"]), ("payment", ["Stripe"]), ("crm", ["HubSpot", "Salesforce"]),
    ("database", ["PostgreSQL"]), ("ecommerce", ["Shopify"]), ("e-commerce", ["Shopify"]),
    ("spreadsheet", ["Google Sheets"]), ("marketing", ["HubSpot"]), ("paymnets", ["Stripe"]),
])
def test_description_and_category_words(query, expected):
    found = rank(query, specs=FIXTURE)
    assert [s.title for s in found] == expected and {s.why for s in found} == {"description"}


def test_the_catalog_answers_the_same_words():
    assert [s.title for s in rank("payments")] == ["Stripe"]
    assert [s.title for s in rank("crm")] == ["HubSpot", "Salesforce"]
    assert [s.title for s in rank("strp")] == ["Stripe"] and [s.title for s in rank("hubspt")] == ["HubSpot"]
    if "postgres" in catalog():
        assert rank("database")[0].title == "PostgreSQL" and rank("postgres")[0].title == "PostgreSQL"


def test_prefix_beats_typo_beats_description():
    # "sal": Salesforce by prefix, HubSpot by the word "sales" in its description
    found = rank("sal", specs=FIXTURE)
    assert [(s.title, s.why) for s in found] == [("Salesforce", "prefix"), ("HubSpot", "description")]
    assert found[0].score > found[1].score
    assert titles("sheets") == ["Google Sheets"]  # a later word of the title is a prefix match too
    assert titles("hub") == ["HubSpot", "GitHub"] and titles("spot") == ["HubSpot"]
    assert titles("sql") == ["PostgreSQL"]


def test_empty_query_lists_everything_alphabetically():
    assert titles("") == sorted(s.title for s in FIXTURE)
    assert titles("   ") == titles("")
    assert [s.title for s in rank("")] == sorted(s.title for s in catalog().values())


def test_limit_and_nothing_found():
    assert titles("", limit=2) == ["GitHub", "Google Sheets"]
    assert titles("xyzzy") == [] and titles("", limit=0) == []


def test_short_queries_do_not_guess():
    assert titles("sql") == ["PostgreSQL"]  # not Salesforce, one letter away from "sal"
    assert titles("zz") == []


@pytest.mark.parametrize("a, b, d", [
    ("stripe", "stripe", 0), ("strp", "strip", 1), ("hubspt", "hubspot", 1), ("shopfiy", "shopify", 1),
    ("ab", "ba", 1), ("kitten", "sitting", 3), ("", "abc", 3),
])
def test_distance_counts_a_swap_as_one(a, b, d):
    assert distance(a, b, limit=5) == d


def test_distance_gives_up_past_the_limit():
    assert distance("abcdef", "uvwxyz", limit=2) == 3


def test_rank_is_fast_enough_for_every_keystroke():
    specs = list(catalog().values())
    queries = ["s", "st", "str", "strp", "hubspt", "payments", "crm", "xyzzyq", "salesforce crm"]
    rank("warm up", specs=specs)
    started = time.perf_counter()
    rounds = 200
    for _ in range(rounds):
        for q in queries:
            rank(q, specs=specs)
    per_call = (time.perf_counter() - started) / (rounds * len(queries))
    print(f"\nrank(): {per_call * 1e6:.0f} µs per call over {len(specs)} catalog entries")


@pytest.mark.parametrize("typed, meant", [("strpe", "stripe"), ("Hubspt", "hubspot"), ("postgrse", "postgres")])
def test_a_mistyped_source_name_is_answered_with_the_near_one(typed, meant):
    from purelink.catalog.spec import get_spec
    from purelink.errors import SourceError

    with pytest.raises(SourceError) as raised:
        get_spec(typed)
    assert raised.value.guidance.startswith(f"Did you mean {meant}?")
    with pytest.raises(SourceError) as raised:
        get_spec("zzzz")
    assert "Did you mean" not in raised.value.guidance and "Known sources:" in raised.value.guidance
