"""Sessions: the registry of runs and each session's saved state under ``MASSMEM_HOME``.

Cheap to import (sqlite3 and json only): ``massmem run --list-sessions`` and
``massmem sessions list`` must stay instant.
"""

from massmem.sessions.manage import DeleteReport, OpenSession, delete_session, export_session, open_session
from massmem.sessions.registry import SessionRecord, SessionRegistry, SessionStatus, check_session_id
from massmem.sessions.state import (
    AgentState,
    AgentTurn,
    AnswerRecord,
    SessionState,
    TurnState,
    TurnWinner,
    VoteRecord,
    load_state,
    save_state,
    state_dir,
)

__all__ = [
    "AgentState",
    "AgentTurn",
    "AnswerRecord",
    "DeleteReport",
    "OpenSession",
    "SessionRecord",
    "SessionRegistry",
    "SessionState",
    "SessionStatus",
    "TurnState",
    "TurnWinner",
    "VoteRecord",
    "check_session_id",
    "delete_session",
    "export_session",
    "load_state",
    "open_session",
    "save_state",
    "state_dir",
]
