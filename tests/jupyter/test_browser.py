"""End to end in a real JupyterLab driven by Chromium: the wizard from "S" to a DataFrame.

Types "S" into the source combobox, picks Stripe, ticks a stream and columns, validates the key,
generates (the pipeline cell appears below the wizard), tests, runs until the progress bar says
100%, reads the row count of the result, then runs the inserted cell and reads the DataFrame's row
count from its output. A screenshot is saved when it fails (path in the failure message; set
PURELINK_ARTIFACTS to choose the folder).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SECOND = 1000  # playwright counts milliseconds
# The ceiling for anything the kernel does (imports, a run starting, a stage drawn). Tests wait for
# the element, never for this time; it only has to outlast a 2-core machine kept busy by parallel
# test workers and other processes, where 60 s was once not enough for a run's monitor to appear.
KERNEL = 240 * SECOND


def run_cell(page, index: int) -> None:
    """Select the cell and run it in place (Ctrl+Enter keeps it the active cell). A key pressed
    while the kernel's websocket is still connecting is lost, so it is pressed again until the
    prompt shows the cell queued or run."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    prompt = cell.locator(".jp-InputPrompt")
    for _ in range(5):
        dialog = page.locator(".jp-Dialog button.jp-mod-accept")
        if dialog.count():  # "Select Kernel", when the first kernel start was not quick enough
            dialog.first.click()
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Control+Enter")
        try:
            page.wait_for_function("(el) => el.innerText.trim() !== '[ ]:'", arg=prompt.element_handle(),
                                   timeout=5 * SECOND)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"cell {index} did not start running")


# What became of a cell's execution, read from the page: "shown" (the element the caller waits
# for is there), "ended" ("[3]:"), "dropped" (back to "[ ]:", the kernel never ran it), "lost"
# ("[*]:" while the kernel has said it is idle for 30 s on end: the request or its reply went
# missing) or "unconnected" (the page's kernel connection neither idle nor busy for 30 s: on a busy
# machine jupyter_server can fail the websocket's opening, jupyter-server/jupyter_server#1265, and
# the page then stays "connecting"). The clock lives in the page and restarts on any change.
FATE = """([el, shown]) => {
    if (shown && document.querySelector(shown)) return 'shown';
    const prompt = el.innerText.trim();
    if (prompt === '[ ]:') return 'dropped';
    if (/^\\[\\d+\\]:$/.test(prompt)) return 'ended';
    const status = (document.querySelector('.jp-Notebook-ExecutionIndicator') || {dataset: {}}).dataset.status;
    const state = status === 'busy' ? null : (status === 'idle' ? 'lost' : 'unconnected');
    if (state !== window.__purelinkState) { window.__purelinkState = state; window.__purelinkSince = Date.now(); }
    return state && Date.now() - window.__purelinkSince > 30000 ? state : false;
}"""


def run_until(page, index: int, shown: str | None = None) -> None:
    """Run the cell until it has ended, or until `shown` (a selector) is on the page when given.
    An execution the kernel dropped or lost is sent again; an ended one whose widget the front end
    never drew ("Loading widget...") too, from a reloaded page. What the page showed goes into the error otherwise."""
    prompt = page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-InputPrompt")
    fates = []
    for _ in range(5):
        page.evaluate("() => { window.__purelinkState = undefined; }")
        run_cell(page, index)
        try:
            fate = page.wait_for_function(FATE, arg=[prompt.element_handle(), shown], timeout=KERNEL,
                                          polling=500).json_value()
        except PlaywrightTimeout:
            raise AssertionError(f"cell {index} still running after {KERNEL // SECOND} s with the kernel busy; "
                                 f"the page says:\n{page_state(page)}") from None
        fates.append(fate)
        if fate == "shown" or (fate == "ended" and shown is None):
            return
        if fate == "unconnected":  # a new page connects afresh to the same kernel, which kept its state
            page.reload()
            wait_for_kernel(page)
            continue
        if fate == "ended":
            try:
                page.locator(shown).first.wait_for(timeout=60 * SECOND)
                return
            except PlaywrightTimeout:
                # "Loading widget..." after every resend (a quiet rehearsal, after jupyter_server failed
                # the page's first websocket): this page's widget manager lost its kernel; a new page gets
                # a new one, and the kernel keeps its state
                page.reload()
                wait_for_kernel(page)
                continue
    raise AssertionError(f"cell {index}: {' then '.join(fates)}, five times; the page says:\n{page_state(page)}")


def run_cell_to_end(page, index: int) -> None:
    run_until(page, index)


def page_state(page) -> str:
    """The kernel's status, every prompt and the start of every output and dialog: what a person
    looking at a stuck notebook would read."""
    return page.evaluate("""() => {
        const text = (el) => (el.innerText || '').trim().slice(0, 300);
        const status = document.querySelector('.jp-Notebook-ExecutionIndicator');
        const lines = [`kernel: ${status ? status.dataset.status : 'no indicator'}`];
        document.querySelectorAll('.jp-Notebook .jp-Cell').forEach((cell, i) => {
            const prompt = cell.querySelector('.jp-InputPrompt');
            const out = cell.querySelector('.jp-OutputArea');
            lines.push(`cell ${i} ${prompt ? text(prompt) : ''} ${out ? text(out) : ''}`);
        });
        document.querySelectorAll('.jp-Dialog').forEach((d) => lines.push(`dialog: ${text(d)}`));
        return lines.join('\\n');
    }""")


def wait_for_kernel(page) -> None:
    """Wait until the notebook's kernel is idle. On a busy machine a page can come up broken, a
    stylesheet or an extension having timed out ("Error Loading Theme" over a page without its
    styles, where nothing is visible): it is loaded again. "Select Kernel" is answered."""
    for attempt in range(4):
        try:
            found = page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle'], .jp-Dialog",
                                           timeout=120 * SECOND)
        except PlaywrightTimeout:
            if attempt < 3 and not page.locator(".jp-Notebook-ExecutionIndicator").count():
                # The notebook's toolbar did not render (a quiet rehearsal, 18:18: only its debugger icon,
                # while the status bar said "Idle"), so its indicator never comes: load the page again
                page.reload()
                continue
            raise AssertionError(f"no idle kernel after 120 s; the page says:\n{page_state(page)}") from None
        if "jp-Dialog" not in (found.get_attribute("class") or ""):
            return
        if "Error Loading" in found.inner_text() or "failed to load" in found.inner_text():
            page.reload()
        else:
            page.locator(".jp-Dialog button.jp-mod-accept").first.click()
            page.locator(".jp-Dialog").first.wait_for(state="detached", timeout=20 * SECOND)
    raise AssertionError(f"the notebook did not come up in four tries; the page says:\n{page_state(page)}")


def open_and_run(page, url: str, notebook: str, cells: int, shown: str | None = None) -> None:
    """Open `notebook` in JupyterLab, wait for its kernel, and run its first `cells` cells: each
    to its end before the next, except the last, which may run on (a pipeline run, a wizard) and
    is run until `shown` (a selector) is on the page."""
    page.goto(f"{url}/lab/tree/{notebook}")
    wait_for_kernel(page)
    for index in range(cells - 1):
        run_until(page, index)
    run_until(page, cells - 1, shown)


def snap(page, name: str) -> None:
    """With PURELINK_SCREENSHOTS=DIR, a screenshot of each stage for a person to look at."""
    folder = os.environ.get("PURELINK_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def click_next(page, stage: str) -> None:
    page.locator(".purelink-next").click()
    page.wait_for_selector(f".purelink-stage:text('{stage}')", timeout=KERNEL)


def test_wizard_from_s_to_a_dataframe(lab, page, lab_sandbox, make_notebook, lab_executor):
    sandbox = lab_sandbox
    url, root = lab
    make_notebook(root / "pipeline.ipynb", [
        f"%load_ext purelink\n%config Purelink.executor = {lab_executor!r}",
        "%purelink",
    ])
    open_and_run(page, url, "pipeline.ipynb", cells=2, shown=".purelink-wizard")
    wizard = page.locator(".purelink-wizard")
    wizard.wait_for(timeout=KERNEL)

    # 1 source: type "S", see the three suggestions in the datalist, pick Stripe
    source = page.locator(".purelink-source input[list]")
    source.click()
    page.keyboard.type("S")
    page.wait_for_function(
        """() => {
            const input = document.querySelector('.purelink-source input[list]');
            const list = document.getElementById(input.getAttribute('list'));
            const values = Array.from(list.options).map(o => o.value);
            return ['Salesforce (CRM platform)', 'Stripe (Payment processing)', 'Shopify (E-commerce)']
                .every(v => values.includes(v));
        }""", timeout=20 * SECOND)
    source.fill("Stripe (Payment processing)")  # what choosing the datalist option does
    page.wait_for_selector(".purelink-chosen", timeout=20 * SECOND)
    snap(page, "1-source")
    click_next(page, "Streams")

    # 2 streams: tick customers
    page.locator(".purelink-stream", has_text="customers").locator("input[type=checkbox]").check()
    snap(page, "2-streams")
    click_next(page, "Requirements")

    # 3 requirements: the sandbox stands in for api.stripe.com
    page.locator(".purelink-q-base_url input").fill(sandbox.stripe_base_url)
    snap(page, "3-requirements")
    click_next(page, "Credentials")

    # 4 credentials: a masked field, validated live, encrypted in the vault
    page.locator(".purelink-key input[type=password]").fill(sandbox.api_key)
    page.locator(".purelink-validate").click()
    page.wait_for_selector(".purelink-key-ok", timeout=KERNEL)
    assert page.locator(".purelink-key input").input_value() == ""
    snap(page, "4-credentials")
    click_next(page, "Schema")

    # 5 schema: the 5-record preview, then tick a Complex column and untick a Core one
    page.wait_for_selector(".purelink-preview", timeout=KERNEL)
    page.locator(".purelink-column", has_text="preferred_locales").locator("input").check()
    page.locator(".purelink-column", has_text="description").first.locator("input").uncheck()
    snap(page, "5-schema")
    click_next(page, "Design")
    page.wait_for_selector(".purelink-plan", timeout=KERNEL)
    snap(page, "6-design")
    click_next(page, "Generate")

    # 7 generate: the pre-flight checklist, and the pipeline cell inserted below the wizard
    cells_before = page.locator(".jp-Notebook .jp-Cell").count()
    page.locator(".purelink-generate").click()
    page.wait_for_selector(".purelink-preflight", timeout=120 * SECOND)
    page.wait_for_function(f"() => document.querySelectorAll('.jp-Notebook .jp-Cell').length > {cells_before}",
                           timeout=KERNEL)
    inserted = page.locator(".jp-Notebook .jp-Cell").nth(2)
    assert "purelink.run(" in inserted.locator(".jp-InputArea-editor").inner_text()
    snap(page, "7-generate")
    click_next(page, "Test")

    # 8 test: the checklist from a sample run
    page.locator(".purelink-test").click()
    page.wait_for_selector(".purelink-checklist", timeout=120 * SECOND)
    checklist = page.locator(".purelink-checklist").inner_text()
    assert "credentials" in checklist and "FAIL" not in checklist.split("failed")[0]
    snap(page, "8-test")
    click_next(page, "Run")

    # 9 run: the progress bar reaches 100%
    page.locator(".purelink-run").click()
    page.wait_for_function(
        """() => Array.from(document.querySelectorAll('.purelink-wizard .widget-hprogress .progress-bar'))
                 .some(bar => bar.style.width === '100%')""", timeout=180 * SECOND)
    page.wait_for_selector(".purelink-message.purelink-ok", timeout=KERNEL)
    snap(page, "9-run")
    click_next(page, "Result")

    # 10 result: the table's row count
    page.wait_for_selector(".purelink-rows", timeout=KERNEL)
    rows = int(page.locator(".purelink-rows").inner_text())
    assert rows > 3000  # the sandbox's 3,421 customers, less the ones the email check rejected

    # the inserted cell re-runs the pipeline; its output is the DataFrame
    run_cell(page, 2)
    footer = page.locator(".jp-Notebook .jp-Cell").nth(2).locator(".jp-OutputArea-output")
    footer.filter(has_text="rows ×").wait_for(timeout=120 * SECOND)
    shown = re.search(r"(\d+) rows × (\d+) columns", footer.inner_text())
    snap(page, "10-result")
    assert shown and int(shown[1]) == rows


def test_run_magic_monitor_answers_pause_and_stop_while_the_cell_runs(lab, page, make_notebook):
    """`r = %purelink run NAME` blocks its cell, yet Pause, Resume and Stop act on the run at once."""
    from purelink.recipes import RecipeStore, parse_recipe
    from purelink.sandbox import serve
    from purelink.workspace import Workspace

    url, root = lab
    with serve(latency_ms=150) as slow:
        RecipeStore(Workspace.at(root).ensure()).save(parse_recipe(
            f"name: slow_customers\nsource: {{name: stripe, base_url: '{slow.stripe_base_url}'}}\n"
            "streams: [{name: customers, columns: [id, email]}]\nrequirements: {rate_limit: 3, concurrency: 1}\n"
            "executor: local\n"))
        make_notebook(root / "run.ipynb", [
            f"import os\nos.environ['STRIPE_API_KEY'] = {slow.api_key!r}\n%load_ext purelink",
            "r = %purelink run slow_customers",
            "r['customers'].shape",
        ])
        open_and_run(page, url, "run.ipynb", cells=2, shown=".purelink-monitor")
        monitor = page.locator(".purelink-monitor")
        monitor.wait_for(timeout=KERNEL)
        records = monitor.locator(".purelink-records")

        def wait_status(text: str, timeout_s: float) -> None:  # the HTML is redrawn: query it afresh
            page.wait_for_function(
                "(t) => ((document.querySelector('.purelink-monitor .purelink-status') || {}).innerText || '')"
                ".startsWith(t)",
                arg=text, timeout=timeout_s * SECOND)

        page.wait_for_function(
            "() => parseInt(document.querySelector('.purelink-monitor .purelink-records').innerText"
            ".replace(/,/g, '')) > 0", timeout=KERNEL)

        monitor.get_by_role("button", name="Pause").click()
        wait_status("paused", 10)
        snap(page, "monitor-paused")
        held = records.inner_text()
        page.wait_for_timeout(2500)  # a paused run loads nothing
        assert records.inner_text() == held

        monitor.get_by_role("button", name="Resume").click()
        wait_status("running", 10)
        monitor.get_by_role("button", name="Stop").click()
        wait_status("stopped", 60)
        snap(page, "monitor-stopped")

        # the magic returned the partial result; the next cell reads it
        run_cell(page, 2)
        out = page.locator(".jp-Notebook .jp-Cell").nth(2).locator(".jp-OutputArea-output")
        out.first.wait_for(timeout=KERNEL)
        shape = re.search(r"\((\d+), (\d+)\)", out.first.inner_text())
        assert shape and 0 < int(shape[1]) < 3421
