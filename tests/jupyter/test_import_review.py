"""The notebook wizard's OpenAPI import, through its widgets: every guess below 80% is a question
with its confidence, evidence and choices; none is pre-answered, "Use this connector" saves nothing
while one is open, the questions follow the streams kept, and the saved connector says what was
answered (issue 19). The browser test (test_browser_import.py) looks at the same in JupyterLab."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from purelink.catalog.openapi import import_openapi
from purelink_jupyter.render import markdown_inline
from purelink_jupyter.wizard import Wizard

from .test_wizard import find, text_of

HUBSPOT = Path(__file__).parents[1] / "fixtures" / "openapi" / "hubspot" / "hubspot_like.json"
ASANA = Path(__file__).parents[1] / "fixtures" / "openapi" / "asana" / "asana.yaml.gz"


@pytest.fixture
def wizard(workspace, monkeypatch, tmp_path):
    monkeypatch.setenv("PURELINK_HOME", str(tmp_path / "home"))
    return Wizard(workspace=workspace.root, executor="local", insert_cells=False)


def imported(wiz, document: Path):
    screen = wiz.screen
    screen.openapi.value = str(document)
    screen.import_button.click()
    assert wiz.wait(120), "the import did not end"
    assert screen.review is not None, wiz.message.value
    return screen.review


def answer(review, field: str, choice: str, other: str = "") -> None:
    question = review.asked[field]
    if other:
        question.other.value = other  # typing picks "Another value"
    else:
        question.choice.value = choice


def test_each_unsure_guess_is_asked_and_nothing_is_saved_before_every_answer(wizard, workspace):
    review = imported(wizard, HUBSPOT)
    truth = import_openapi(HUBSPOT).questions()
    shown = find(review.widget, "purelink-import-question")
    assert [q.guess.field for q in review.pending()] == [g.field for g in truth]
    assert len(shown) == len(truth) == 10
    for question, guess in zip(shown, truth):  # field, confidence, evidence, choices: unanswered
        text = text_of(question)
        assert guess.field in text and f"{guess.confidence:.0%} sure" in text and markdown_inline(guess.evidence) in text
        choice = find(question, "purelink-import-choice")[0]
        assert choice.value is None and "Another value (below)" in choice.options[-1][0]
    auth = dict(review.asked["auth"].choice.options)
    assert {"Use the guess: {env: CRM_API_KEY, style: bearer}", "No key needed"} <= set(auth)

    review.use.click()  # nothing answered: refused, the open ones marked, nothing saved
    assert "10 question(s) still unanswered" in wizard.message.value
    assert "answer this one" in review.asked["auth"].status.value
    assert not (workspace.root / "connectors").exists() and not wizard.session.state.source

    review.streams["objects"].value = False  # {objectType} only the dropped stream needed
    review.streams["companies"].value = False
    assert [q.guess.field for q in review.pending()] == [
        "contacts.cursor_field", "contacts.params.archived", "auth", "rate_limit", "concurrency"]
    assert len(find(review.widget, "purelink-import-question")) == 5
    answer(review, "contacts.cursor_field", "", other="updatedAt")
    answer(review, "contacts.params.archived", "none")
    answer(review, "auth", "preset:bearer")
    answer(review, "rate_limit", "", other="{requests_per_second: 9}")
    assert not review.asked["auth"].status.value  # the marks follow the answers
    assert "answer this one" in review.asked["concurrency"].status.value
    assert "1 question(s) still unanswered" in wizard.message.value
    review.use.click()
    assert "1 question(s) still unanswered: concurrency" in wizard.message.value
    answer(review, "concurrency", "guess")
    assert "Every question is answered" in wizard.message.value
    review.name.value = "hub"
    review.use.click()
    assert wizard.wait(120) and wizard.session.state.source == "hub", wizard.message.value
    assert "imported, saved as connectors/hub.yaml" in wizard.message.value
    saved = yaml.safe_load((workspace.root / "connectors" / "hub.yaml").read_text())
    assert [s["name"] for s in saved["streams"]] == ["contacts"] and not saved.get("variables")
    contacts = saved["streams"][0]
    assert contacts["cursor_field"] == "updatedAt" and "archived" not in contacts.get("params", {})
    assert saved["auth"]["style"] == "bearer" and saved["auth"]["env"] == "HUB_API_KEY"  # follows the name
    assert saved["auth"]["guidance"]["steps"]  # the answer replaced the style, not the how-to
    assert saved["rate_limit"]["requests_per_second"] == 9 and saved["concurrency"] == 2
    wizard.next()
    assert wizard.wait(60) and wizard.session.stage == "streams", wizard.message.value


def test_a_variable_kept_as_guessed_becomes_the_default_the_requirements_show(wizard, workspace):
    review = imported(wizard, ASANA)
    for name, box in review.streams.items():
        box.value = name == "projects_tasks"
    fields = [q.guess.field for q in review.pending()]
    assert "variables.project_gid" in fields and "variables.workspace_gid" not in fields
    assert "Use the guess: '1331'" in dict(review.asked["variables.project_gid"].choice.options)
    for q in review.pending():  # the guess where there is one, else no value (a cursor-less stream)
        q.choice.value = "guess" if "guess" in dict(q.choice.options).values() else "none"
    review.use.click()
    assert wizard.wait(120) and wizard.session.state.source == "asana", wizard.message.value
    saved = yaml.safe_load((workspace.root / "connectors" / "asana.yaml").read_text())
    assert saved["variables"]["project_gid"]["default"] == "1331"
    assert wizard.session.spec.resolved().stream("projects_tasks").path == "/projects/1331/tasks"


def test_a_document_with_many_streams_starts_with_none_ticked(wizard, workspace, tmp_path):
    import json

    doc = json.loads(HUBSPOT.read_text())
    contacts = doc["paths"]["/crm/v3/objects/contacts"]
    doc["paths"].update({f"/crm/v3/objects/custom_{i}": contacts for i in range(15)})  # 18 streams
    many = tmp_path / "many.json"
    many.write_text(json.dumps(doc))
    review = imported(wizard, many)
    assert len(review.streams) == 18 and not review.kept() and not review.pending()
    assert "Tick the streams to import" in text_of(review.questions)
    review.use.click()
    assert "No stream is kept" in wizard.message.value and not (workspace.root / "connectors").exists()
    review.streams["contacts"].value = True
    assert [q.guess.field for q in review.pending()] == [
        "contacts.cursor_field", "contacts.params.archived", "auth", "rate_limit", "concurrency"]
