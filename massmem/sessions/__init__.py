"""Sessions: the registry of runs and each session's saved state under ``MASSMEM_HOME``.

Cheap to import: the names below load their modules on first use, so listing sessions
(``massmem run --list-sessions``) loads the SQLite registry and nothing else.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SessionRecord": "massmem.sessions.registry",
    "SessionRegistry": "massmem.sessions.registry",
    "SessionStatus": "massmem.sessions.registry",
    "check_session_id": "massmem.sessions.registry",
    "AgentState": "massmem.sessions.state",
    "AgentTurn": "massmem.sessions.state",
    "AnswerRecord": "massmem.sessions.state",
    "SessionState": "massmem.sessions.state",
    "TurnState": "massmem.sessions.state",
    "TurnWinner": "massmem.sessions.state",
    "VoteRecord": "massmem.sessions.state",
    "load_state": "massmem.sessions.state",
    "save_state": "massmem.sessions.state",
    "state_dir": "massmem.sessions.state",
    "DeleteReport": "massmem.sessions.manage",
    "OpenSession": "massmem.sessions.manage",
    "delete_session": "massmem.sessions.manage",
    "export_session": "massmem.sessions.manage",
    "open_session": "massmem.sessions.manage",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'massmem.sessions' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
