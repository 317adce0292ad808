"""The wizard's hook: an import's guesses below 80% are questions for the chosen streams, and the
answers given to confirm_import are what the saved connector says."""

from __future__ import annotations

from pathlib import Path

from purelink.catalog.spec import get_spec
from purelink.wizard import Session

GITHUB = Path(__file__).parents[2] / "fixtures" / "openapi" / "github" / "github.json.gz"


def test_the_wizard_asks_the_unsure_guesses_and_applies_the_answers(workspace):
    session = Session(workspace)
    session.import_openapi(GITHUB, name="gh")
    asked = {g.field: g for g in session.import_questions(["issues", "pulls"])}
    assert "auth" in asked and "unsure" in asked["auth"].evidence
    assert {"variables.owner", "variables.repo"} <= set(asked)
    assert not {f for f in asked if f.startswith(("deliveries.", "commits.", "variables.org"))}  # not chosen
    spec = session.confirm_import({"streams": ["issues", "pulls"], "auth": {"style": "bearer", "env": "GH_TOKEN"},
                                   "variables.owner": "octocat", "variables.repo": "Hello-World",
                                   "issues.time_filter": None})
    saved = get_spec("gh", workspace)
    assert saved == spec and saved.auth.style == "bearer" and saved.auth.env == "GH_TOKEN"
    assert saved.stream("issues").time_filter is None and saved.stream("issues").params == {"state": "all"}
    assert saved.resolved().stream("issues").path == "/repos/octocat/Hello-World/issues"
