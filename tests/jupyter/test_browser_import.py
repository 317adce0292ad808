"""The notebook wizard's OpenAPI import in a real JupyterLab driven by Chromium (issue 19): the
document's path typed in, every guess below 80% shown as a question with its confidence, evidence
and choices, Save refused while one is open, the questions following the streams kept, and the
connector saved with the answers clicked. A screenshot of the questions goes to
`artifacts/screenshots/import-questions.png` (PURELINK_SCREENSHOTS chooses another folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from purelink.catalog.openapi import import_openapi

from .conftest import ROOT, chromium_page
from .test_browser import KERNEL, SECOND, open_and_run
from .test_browser_wizard import CUT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HUBSPOT = Path(__file__).parents[1] / "fixtures" / "openapi" / "hubspot" / "hubspot_like.json"


def test_the_import_asks_each_unsure_guess_before_saving(lab, make_notebook, tmp_path):
    url, root = lab
    ws = tmp_path / "ws"
    make_notebook(root / "import.ipynb", [f"%load_ext purelink\n%config Purelink.workspace = {str(ws)!r}\n%purelink"])
    shots = Path(os.environ.get("PURELINK_SCREENSHOTS") or ROOT / "artifacts" / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    truth = import_openapi(HUBSPOT).questions()
    with chromium_page(width=1400, height=2400) as page:
        try:
            open_and_run(page, url, "import.ipynb", cells=1, shown=".purelink-wizard")
            page.locator(".purelink-wizard").wait_for(timeout=240 * SECOND)  # a busy machine imports slowly
            page.locator("input[placeholder='path or URL of an OpenAPI 3 document']").fill(str(HUBSPOT))
            page.locator("button", has_text="Import OpenAPI").click()
            questions = page.locator(".purelink-import-question")
            page.wait_for_function(f"() => document.querySelectorAll('.purelink-import-question').length === {len(truth)}",
                                   timeout=120 * SECOND)
            for guess, question in zip(truth, questions.all()):
                text = question.inner_text()
                assert guess.field in text and f"{guess.confidence:.0%} sure" in text, text
                assert guess.evidence.replace("`", "")[:40] in text and "Another value (below)" in text
                assert not question.locator("input[type=radio]:checked").count()  # none pre-answered
            auth = page.locator(".purelink-iq-auth")
            assert "Use the guess: {env: CRM_API_KEY, style: bearer}" in auth.inner_text()
            assert "No key needed" in auth.inner_text()
            assert page.evaluate(CUT.replace(".purelink-wizard", ".purelink-import-review")) == []
            page.screenshot(path=str(shots / "import-questions.png"), full_page=True)

            page.locator(".purelink-import-use").click()  # nothing answered: refused, nothing saved
            page.wait_for_selector(f".purelink-message:has-text('{len(truth)} question(s) still unanswered')",
                                   timeout=KERNEL)
            assert page.locator(".purelink-iq-auth", has_text="answer this one").count() == 1
            assert not (ws / "connectors").exists()

            for stream in ("companies", "objects"):  # {objectType} only the dropped stream needed
                page.locator(".purelink-import-stream", has_text=stream).locator("input").uncheck()
            page.wait_for_function("() => document.querySelectorAll('.purelink-import-question').length === 5",
                                   timeout=KERNEL)
            assert not page.locator(".purelink-iq-variables-objectType").count()
            page.locator(".purelink-iq-contacts-cursor_field .purelink-import-other input").fill("updatedAt")
            page.locator(".purelink-iq-contacts-params-archived label", has_text="No value").click()
            page.locator(".purelink-iq-auth label", has_text="Authorization: Bearer").click()
            page.locator(".purelink-iq-rate_limit label", has_text="Use the guess").click()
            page.locator(".purelink-iq-concurrency .purelink-import-other input").fill("3")
            page.locator(".purelink-import-name input").fill("hub")
            page.wait_for_selector(".purelink-message:has-text('Every question is answered')", timeout=KERNEL)
            assert not page.locator(".purelink-import-question", has_text="answer this one").count()
            page.screenshot(path=str(shots / "import-answered.png"), full_page=True)
            page.locator(".purelink-import-use").click()
            page.wait_for_selector(".purelink-message:has-text('saved as connectors/hub.yaml')", timeout=120 * SECOND)
            page.wait_for_selector(".purelink-chosen:has-text('contacts')", timeout=KERNEL)
        except BaseException:
            page.screenshot(path=str(shots / "import-failure.png"), full_page=True)
            raise
    saved = yaml.safe_load((ws / "connectors" / "hub.yaml").read_text())
    assert [s["name"] for s in saved["streams"]] == ["contacts"]
    contacts = saved["streams"][0]
    assert contacts["cursor_field"] == "updatedAt" and "archived" not in contacts.get("params", {})
    assert saved["auth"]["style"] == "bearer" and saved["auth"]["env"] == "HUB_API_KEY"
    assert saved["rate_limit"]["requests_per_second"] == 5.0 and saved["concurrency"] == 3
