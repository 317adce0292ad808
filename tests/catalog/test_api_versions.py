"""Each catalog spec names the vendor's API version in one place (`api_version`), with the day it
was checked against the vendor's documentation; this fails once a version has left the vendor's
support window, or once the check is more than a year old."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from purelink.catalog.spec import catalog

VERSIONED = ["github", "salesforce", "shopify", "stripe"]


def test_every_rest_spec_that_pins_a_version_says_so():
    pinned = {name for name, spec in catalog().items() if spec.api_version}
    assert set(VERSIONED) <= pinned


@pytest.mark.parametrize("name", VERSIONED)
def test_the_version_is_inside_the_vendors_support_window(name):
    spec = catalog()[name]
    version = spec.api_version
    today = date.today()
    assert version.checked <= today and today - version.checked < timedelta(days=365), \
        f"{name}: check {version.version} against the vendor's documentation again (last {version.checked})"
    if version.supported_until is not None:
        assert today < version.supported_until, \
            f"{name}: {version.version} left the vendor's support window on {version.supported_until}"
    # one place: the base URL and headers carry the value, nowhere else is it written
    carried = (spec.base_url or "") + " ".join(spec.headers.values())
    assert version.version in carried and "{api_version}" not in carried


def test_the_catalog_matches_the_vendors_documentation():
    specs = catalog()
    assert specs["stripe"].headers["Stripe-Version"] == specs["stripe"].api_version.version
    assert "25 requests per second per endpoint" in specs["stripe"].rate_limit.notes
    assert "Search API 20" in specs["stripe"].rate_limit.notes
    # Query leaves deleted rows out: IsDeleted would never be true
    assert {s.path for s in specs["salesforce"].streams} == {"/queryAll"}
    assert specs["shopify"].base_url.endswith(f"/admin/api/{specs['shopify'].api_version.version}")
    github = specs["github"]
    assert github.stream("repositories").path == "/users/{owner}/repos"
    assert github.stream("org_repositories").path == "/orgs/{owner}/repos"
    assert "organization" not in github.stream("repositories").description.split("(")[0]
