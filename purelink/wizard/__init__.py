"""The agent: the pipeline wizard's stages as a UI-agnostic session (`Session`), driven by the
notebook wizard and by `purelink el-agent` in a terminal."""

from purelink.wizard.models import (
    STAGES,
    CredentialStatus,
    Generated,
    KeyHelp,
    Outcome,
    Question,
    RunControl,
    SessionError,
    SessionState,
    StreamInfo,
    Suggestion,
    TestReport,
    UnknownSource,
)
from purelink.wizard.session import Session

__all__ = [
    "STAGES", "CredentialStatus", "Generated", "KeyHelp", "Outcome", "Question", "RunControl", "Session",
    "SessionError", "SessionState", "StreamInfo", "Suggestion", "TestReport", "UnknownSource",
]
