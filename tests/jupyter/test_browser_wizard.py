"""Every stage of the wizard in a real JupyterLab driven by Chromium, looked at as a person would
(issue 15): a screenshot of each stage goes to `artifacts/screenshots/` (git-ignored, the CI
artifact; PURELINK_SCREENSHOTS chooses another folder), and on every stage the test asserts that

- no label, radio option or button is cut (each one's scrollWidth fits its clientWidth),
- the answers given survive Back then Next,
- and on the run stage, that a second click on Run is refused with a visible message while the
  first run's monitor goes on to 100%.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from .conftest import ROOT, chromium_page
from .test_browser import KERNEL, SECOND, open_and_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CUT = """() => {
    const root = document.querySelector('.purelink-wizard');
    const picks = '.widget-label, .widget-label-basic, .widget-label-basic span, .widget-radio-box label, '
                + 'button, .widget-dropdown select';
    const cut = [];
    for (const el of root.querySelectorAll(picks)) {
        if (!el.offsetParent) continue;  // hidden: nothing to read
        if (el.scrollWidth > el.clientWidth + 1)
            cut.push(`${el.tagName} "${(el.innerText || el.value || '').trim()}" ${el.scrollWidth}>${el.clientWidth}`);
    }
    return cut;
}"""


@pytest.fixture
def tall_page(lab, request, shots):
    with chromium_page(width=1400, height=1800) as page:
        yield page
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            page.screenshot(path=str(shots / "failure.png"), full_page=True)
            print(f"\nscreenshot of the failure: {shots / 'failure.png'}")


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = Path(os.environ.get("PURELINK_SCREENSHOTS") or ROOT / "artifacts" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of every stage: {folder}")
    return folder


def test_every_stage_keeps_its_answers_cuts_no_label_and_refuses_a_second_run(
        lab, tall_page, lab_sandbox, make_notebook, lab_executor, shots):
    page, sandbox = tall_page, lab_sandbox
    url, root = lab
    # One cell: on a busy machine an execution sent while the kernel connects can be dropped, and
    # with two cells the second then ran without the first (`%purelink` not found).
    make_notebook(root / "wizard.ipynb", [
        f"%load_ext purelink\n%config Purelink.executor = {lab_executor!r}\n%purelink"])
    open_and_run(page, url, "wizard.ipynb", cells=1, shown=".purelink-wizard")
    wizard = page.locator(".purelink-wizard")

    def at(stage: str) -> None:
        page.wait_for_selector(f".purelink-stage:text('{stage}')", timeout=120 * SECOND)

    def next_(stage: str) -> None:
        page.locator(".purelink-next").click()
        at(stage)

    def back_then_next(before: str, stage: str, still=None) -> None:
        """Back to `before` (where `still()` checks its answers are there), then Next."""
        page.locator(".purelink-back").click()
        at(before)
        if still is not None:
            still()
        next_(stage)

    def look(name: str) -> None:
        """The stage as a person sees it: the screenshot, and no label cut."""
        page.wait_for_timeout(0)
        wizard.screenshot(path=str(shots / f"{name}.png"))
        assert page.evaluate(CUT) == [], f"labels cut on {name}"

    def checked(selector: str) -> bool:
        return page.locator(f"{selector} input[type=checkbox]").first.is_checked()

    # 1 source: "S" suggests the catalog with its one-line descriptions; Stripe is chosen
    source = page.locator(".purelink-source input[list]")
    source.click()
    page.keyboard.type("S")
    page.locator(".purelink-suggestion-about").first.wait_for(timeout=20 * SECOND)
    assert page.locator(".purelink-discover-section").is_hidden()  # "S" is no verdict
    source.fill("Stripe (Payment processing)")
    page.wait_for_selector(".purelink-chosen", timeout=20 * SECOND)
    look("01-source")
    next_("Streams")

    # 2 streams
    page.locator(".purelink-stream", has_text="customers").locator("input[type=checkbox]").check()
    look("02-streams")
    back_then_next("Source", "Streams", lambda: page.wait_for_function(
        "() => document.querySelector('.purelink-source input[list]').value === 'Stripe (Payment processing)'",
        timeout=20 * SECOND))
    assert checked(".purelink-stream:has-text('customers')")
    next_("Requirements")

    # 3 requirements: the sandbox stands in for api.stripe.com; the warehouse URL follows the store
    page.locator(".purelink-q-base_url input").fill(sandbox.stripe_base_url)
    page.locator(".purelink-q-frequency label", has_text="Daily").click()
    warehouse = page.locator(".purelink-q-warehouse_url")
    assert warehouse.is_hidden()  # DuckDB chosen
    page.locator(".purelink-q-destination label", has_text="PostgreSQL").click()
    warehouse.wait_for(state="visible", timeout=20 * SECOND)
    look("03-requirements-warehouse")
    page.locator(".purelink-q-destination label", has_text="DuckDB").click()
    warehouse.wait_for(state="hidden", timeout=20 * SECOND)
    look("03-requirements")
    next_("Credentials")
    back_then_next("Requirements", "Credentials")
    page.locator(".purelink-back").click()
    at("Requirements")
    assert page.locator(".purelink-q-base_url input").input_value() == sandbox.stripe_base_url
    assert page.locator(".purelink-q-frequency label", has_text="Daily").locator("input").is_checked()
    next_("Credentials")

    # 4 credentials
    page.locator(".purelink-key input[type=password]").fill(sandbox.api_key)
    page.locator(".purelink-validate").click()
    page.wait_for_selector(".purelink-key-ok", timeout=KERNEL)
    look("04-credentials")
    back_then_next("Requirements", "Credentials")
    assert "checked earlier" in wizard.inner_text()
    next_("Schema")

    # 5 schema: the tree; an unticked phone stays unticked through Back/Next and the breadcrumb
    page.wait_for_selector(".purelink-preview", timeout=KERNEL)
    page.locator(".purelink-path-phone input").uncheck()
    page.locator(".purelink-path-address-city input").uncheck()
    page.wait_for_selector(".purelink-path-address.purelink-mixed", timeout=20 * SECOND)  # 5 of 6: mixed
    page.wait_for_selector(".purelink-group-contact.purelink-mixed", timeout=20 * SECOND)
    look("05-schema")
    # Stripe's `created` (Unix seconds in the API) previews as the instant the table will hold
    preview = page.locator(".purelink-preview").inner_text()
    assert re.search(r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ", preview), preview
    page.locator(".purelink-column-filter input").fill("city")  # the filter narrows a wide object
    page.locator(".purelink-path-phone").wait_for(state="hidden", timeout=20 * SECOND)
    assert page.locator(".purelink-path-address-city").is_visible()
    look("05-schema-filtered")
    page.locator(".purelink-column-filter input").fill("")
    page.locator(".purelink-path-phone").wait_for(state="visible", timeout=20 * SECOND)
    page.locator(".purelink-path-address input").check()  # the parent ticks its fields
    page.wait_for_function("() => document.querySelector('.purelink-path-address-city input').checked",
                           timeout=20 * SECOND)
    assert not page.locator(".purelink-path-address.purelink-mixed").count()
    back_then_next("Credentials", "Schema")
    page.wait_for_selector(".purelink-path-phone input", timeout=KERNEL)
    assert not page.locator(".purelink-path-phone input").is_checked()
    assert page.locator(".purelink-path-address input").is_checked()
    page.locator(".purelink-crumb", has_text="Requirements").click()  # the breadcrumb goes back ...
    at("Requirements")
    page.locator(".purelink-crumb", has_text="Schema").click()  # ... and forward again
    at("Schema")
    assert not page.locator(".purelink-path-phone input").is_checked()
    next_("Design")

    # 6 design: a ticked suggested check stays ticked
    page.wait_for_selector(".purelink-plan", timeout=KERNEL)
    page.locator(".purelink-suggested-check input").check()
    look("06-design")
    back_then_next("Schema", "Design")
    assert page.locator(".purelink-suggested-check input").is_checked()
    next_("Generate")

    # 7 generate: highlighted module code, the pre-flight checks; the name stays
    page.locator(".purelink-recipe-name input").fill("browser_customers")
    page.locator(".purelink-generate").click()
    page.wait_for_selector(".purelink-preflight", timeout=120 * SECOND)
    page.wait_for_selector(".purelink-highlight span[style*=color]", timeout=20 * SECOND)
    look("07-generate")
    back_then_next("Design", "Generate")
    assert page.locator(".purelink-recipe-name input").input_value() == "browser_customers"
    assert "Generated earlier" in wizard.inner_text()
    next_("Test")

    # 8 test
    page.locator(".purelink-test").click()
    page.wait_for_selector(".purelink-checklist", timeout=180 * SECOND)
    look("08-test")
    back_then_next("Generate", "Test")
    assert "passed" in page.locator(".purelink-checklist").inner_text()  # the passed test was kept
    next_("Run")

    # 9 run: a second click is refused with a message, and the monitor goes on to 100%
    run = page.locator(".purelink-run")
    run.click()
    page.wait_for_function("() => document.querySelector('.purelink-run').disabled", timeout=KERNEL)
    run.click(force=True)  # what a second click does on a disabled button: nothing starts
    busy = page.locator(".purelink-busy")
    assert "disabled until" in busy.inner_text() and "running" in (run.get_attribute("title") or "").lower()
    look("09-run-running")
    page.wait_for_function(
        """() => Array.from(document.querySelectorAll('.purelink-wizard .widget-hprogress .progress-bar'))
                 .some(bar => bar.style.width === '100%')""", timeout=240 * SECOND)
    page.wait_for_selector(".purelink-message.purelink-ok", timeout=KERNEL)
    assert page.locator(".purelink-wizard .purelink-monitor").count() == 1  # one monitor, never replaced
    look("09-run")
    back_then_next("Test", "Run")
    assert "success" in wizard.inner_text()  # the finished run is still the answer
    next_("Result")

    # 10 result: rows one line tall
    page.wait_for_selector(".purelink-rows", timeout=KERNEL)
    assert int(page.locator(".purelink-rows").inner_text()) > 3000
    heights = page.evaluate("() => Array.from(document.querySelectorAll('.purelink-frame tr'))"
                            ".map(tr => tr.getBoundingClientRect().height)")
    assert heights and max(heights) < 40, heights
    look("10-result")
    back_then_next("Run", "Result")
    page.wait_for_selector(".purelink-rows", timeout=KERNEL)
    assert int(page.locator(".purelink-rows").inner_text()) > 3000
