"""Every stage keeps every answer until the user changes it (issue 15, item 4), at the session level
so the notebook wizard and `purelink el-agent` both benefit: Back then Next with the same answers
clears nothing, a stream unticked then ticked again keeps its column choices, and answers that could
not be committed yet survive as drafts, on disk too."""

from __future__ import annotations

import json

from purelink.wizard import Session


def to_schema(s: Session, sandbox) -> None:
    s.choose_source("stripe")
    s.next()
    s.choose_streams(["customers"])
    s.next()
    s.set_requirements(base_url=sandbox.stripe_base_url, executor="local", history_start="2024-01-01")
    s.next()
    s.set_credential(sandbox.api_key, save=False)
    s.next()
    s.probe()


def test_back_then_next_with_the_same_answers_keeps_everything(sandbox, workspace):
    s = Session(workspace)
    to_schema(s, sandbox)
    default = s.state.columns["customers"]
    assert "phone" in default
    without_phone = [c for c in default if c != "phone"]
    s.choose_columns("customers", without_phone)
    s.next()
    s.next()  # design -> generate
    s.generate()
    s.next()
    assert s.test().ok
    tested = s.state.test
    # Back to the start and Next again, re-giving each stage's answers as a UI does on Next
    while s.stage != "streams":
        s.back()
    s.choose_streams(["customers"])
    s.next()
    s.set_requirements(purpose="poc", frequency="once", history_start="2024-01-01", destination="duckdb",
                       base_url=sandbox.stripe_base_url, executor="local", keys_ready=True)
    s.next()
    s.next()
    s.choose_columns("customers", without_phone)
    assert s.state.columns["customers"] == without_phone  # the unticked phone stays unticked
    assert str(s.state.requirements.history_start).startswith("2024-01-01")
    assert s.state.executor == "local" and s.state.recipe_version == 1
    assert s.state.test == tested and s.state.module  # nothing was made stale by the same answers
    assert s.go("run") == "run"  # so the user can jump straight back to where they were


def test_a_stream_unticked_then_ticked_again_keeps_its_columns(sandbox, workspace):
    s = Session(workspace)
    to_schema(s, sandbox)
    s.choose_columns("customers", ["id", "email"])
    s.go("streams")
    s.choose_streams(["charges"])
    assert s.state.streams == ["charges"] and s.draft().streams[0].name == "charges"
    s.choose_streams(["charges", "customers"])
    assert s.state.columns["customers"] == ["id", "email"]
    assert s.state.probed == ["customers"]  # charges is still to sample, customers is not
    probes = s.probe()
    assert set(probes) == {"charges", "customers"}
    assert s.state.columns["customers"] == ["id", "email"]  # sampling again kept the choice


def test_answers_not_committed_yet_are_kept_as_drafts(sandbox, workspace):
    s = Session(workspace)
    s.choose_source("stripe")
    s.next()
    s.remember("streams", {"streams": []})  # every stream unticked, then Back
    s.back()
    again = Session.resume(workspace)
    assert again.draft_of("streams") == {"streams": []}
    assert json.loads(again.path.read_text())["drafts"] == {"streams": {"streams": []}}
    again.choose_streams(["customers"])  # committing the stage drops its draft
    assert again.draft_of("streams") == {}
