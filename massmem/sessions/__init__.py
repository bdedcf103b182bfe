"""Sessions: the registry of runs under ``MASSMEM_HOME``."""

from massmem.sessions.registry import SessionRecord, SessionRegistry, SessionStatus

__all__ = ["SessionRecord", "SessionRegistry", "SessionStatus"]
