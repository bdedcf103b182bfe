"""Opening, resuming, deleting and exporting sessions: the registry and the state files together.

:func:`open_session` decides which session a run uses and returns an :class:`OpenSession`
that holds the session's lock until it is finished.  Which id:

* an explicit id (``--session-id`` / ``--resume`` on the command line, else the config's
  ``session_id``) — resumed when it exists;
* a *new* name creates the session (users name their sessions, e.g. ``trip-planning``),
  unless the caller insists it must exist (``--resume``) or the name has the shape of an
  id massmem generates (``session_YYYYMMDD_HHMMSS``) — then a mistyped id is an error that
  lists the recent sessions instead of silently starting an empty one;
* no id — a fresh one from the clock.

A session whose registry row was lost (a quarantined registry) but whose state folder
survived is re-registered from its state, so nothing recorded is lost.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from massmem import paths
from massmem.errors import MassmemError, SessionNotFound, redact
from massmem.sessions.registry import (
    AUTO_ID_PATTERN,
    SessionRecord,
    SessionRegistry,
    SessionStatus,
    check_session_id,
)
from massmem.sessions.state import (
    SessionLock,
    SessionState,
    TurnState,
    config_hash,
    delete_state,
    load_state,
    save_state,
    state_dir,
    state_path,
)

__all__ = [
    "DeleteReport",
    "OpenSession",
    "delete_session",
    "export_session",
    "is_generated_id",
    "open_session",
]

#: longest last answer kept in the registry row (the state file keeps it whole)
_ANSWER_CHARS = 2000


def is_generated_id(session_id: str) -> bool:
    """Whether ``session_id`` has the shape of an id massmem makes from the clock."""
    return re.fullmatch(AUTO_ID_PATTERN, session_id) is not None


@dataclass
class OpenSession:
    """A session in use by this process: registry row, state, and the lock that guards them."""

    record: SessionRecord
    state: SessionState
    #: a brand-new session (nothing to resume)
    created: bool
    registry: SessionRegistry
    lock: SessionLock
    #: things the user should hear about (config changed, state recovered, …)
    notes: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def path(self) -> Any:
        return state_path(self.id)

    def history(self) -> list[tuple[str, str]]:
        return self.state.history()

    def record_turn(self, turn: TurnState) -> None:
        """Append a finished turn and save it (state file first, then the registry row)."""
        self.state.add_turn(turn)
        save_state(self.state)
        self.record = self.registry.update(
            self.id,
            status="active",
            turns=self.state.last_turn,
            question=turn.question,
            last_answer=turn.final_answer[:_ANSWER_CHARS],
            winner=turn.winner,
            error=None,
        )

    def reset(self) -> None:
        """Forget earlier turns for the team's context (they stay recorded) and save."""
        self.state.reset()
        save_state(self.state)

    def save(self) -> None:
        save_state(self.state)

    def finish(self, status: SessionStatus, error: str | None = None) -> None:
        """Record how this process's use of the session ended and release the lock."""
        try:
            self.record = self.registry.update(self.id, status=status, error=error)
        finally:
            self.lock.release()

    def close(self) -> None:
        self.lock.release()

    def discard(self) -> None:
        """Remove a session this process created but never used (its team could not even start).

        Why: a run refused before its first turn (a memory store locked by another process)
        would otherwise leave a ``failed`` session with no turns in every list.
        """
        try:
            _forget(self.registry, self.id)
            with suppress(OSError, MassmemError):
                delete_state(self.id)
        finally:
            self.lock.release()


def open_session(
    *,
    session_id: str | None = None,
    must_exist: bool = False,
    config: Mapping[str, Any] | None = None,
    config_path: str | None = None,
    models: Sequence[str] = (),
    description: str | None = None,
    registry: SessionRegistry | None = None,
) -> OpenSession:
    """Resume ``session_id`` or start a session; see the module docstring for the rules.

    Raises :class:`SessionNotFound` (an unknown id that must exist), :class:`UsageError`
    (an unsafe id), :class:`StateCorrupt` (the state file was set aside) or
    :class:`SessionError` (the session is in use by another process).
    """
    registry = registry or SessionRegistry()
    fingerprint = config_hash(config)
    if session_id is None:
        # A folder that cannot hold state fails here, before a registry row exists.
        paths.ensure_dir(paths.sessions_dir())
        record = registry.create(
            config_path=config_path, models=models, description=description, config_hash=fingerprint
        )
        try:
            lock = SessionLock(record.id).acquire()
            state = SessionState(
                record.id,
                created_at=record.created_at,
                config_path=config_path,
                config=dict(config) if config is not None else None,
                config_hash=fingerprint,
            )
            try:
                save_state(state)
            except BaseException:
                lock.release()
                raise
        except BaseException:
            _forget(registry, record.id)
            raise
        return OpenSession(record, state, True, registry, lock)

    check_session_id(session_id)
    unknown = registry.find(session_id) is None and not state_path(session_id).exists()
    if unknown and (must_exist or is_generated_id(session_id)):
        raise SessionNotFound(registry.not_found_message(session_id))
    lock = SessionLock(session_id).acquire()
    try:
        return _open_named(
            registry,
            lock,
            session_id,
            config=config,
            fingerprint=fingerprint,
            config_path=config_path,
            models=models,
            description=description,
        )
    except BaseException:
        lock.release()
        raise


def _open_named(
    registry: SessionRegistry,
    lock: SessionLock,
    session_id: str,
    *,
    config: Mapping[str, Any] | None,
    fingerprint: str | None,
    config_path: str | None,
    models: Sequence[str],
    description: str | None,
) -> OpenSession:
    notes: list[str] = []
    record = registry.find(session_id)
    if (
        record is not None
        and record.status == "interrupted"
        and record.error
        and "ended without" in record.error
    ):
        notes.append(f"the last run of session {session_id!r} did not finish ({record.error}); it continues")
    state = load_state(session_id)
    created = False
    registered_here = record is None
    if record is None:
        # New name, or a state folder whose registry row was lost: (re-)register it.
        record = registry.create(
            session_id=session_id,
            config_path=config_path,
            models=models,
            description=description,
            config_hash=fingerprint,
            turns=state.last_turn if state is not None else 0,
            now=state.created_at if state is not None and state.created_at else None,
        )
        if state is None:
            created = True
        else:
            notes.append(
                f"session {session_id!r} was missing from the registry; re-registered from its state"
            )
    if state is None:
        state = SessionState(session_id, created_at=record.created_at, turn_offset=record.turns)
        if record.turns:
            notes.append(
                f"session {session_id!r} has no saved state; earlier turns are not shown to the team "
                f"(turn numbers continue after {record.turns})"
            )
    elif state.config_hash and fingerprint and state.config_hash != fingerprint:
        notes.append(f"the team config differs from the one session {session_id!r} last ran with")
    state.config = dict(config) if config is not None else state.config
    state.config_hash = fingerprint or state.config_hash
    state.config_path = config_path or state.config_path
    try:
        save_state(state)
    except BaseException:
        if registered_here:
            _forget(registry, session_id)
        raise
    record = registry.update(
        session_id,
        status="active",
        turns=state.last_turn,
        models=list(models) if models else None,
        config_path=config_path if config_path is not None else record.config_path,
        config_hash=fingerprint,
        error=None,
    )
    return OpenSession(record, state, created, registry, lock, notes)


def _forget(registry: SessionRegistry, session_id: str) -> None:
    """Remove a row this call registered when the session could not be set up after all.

    Why: an ``active`` row with no process behind it and no state would stay in every list.
    """
    with suppress(MassmemError):
        registry.delete(session_id)


# ---------------------------------------------------------------------------------- delete


@dataclass(slots=True)
class DeleteReport:
    session_id: str
    registry_row: bool
    state_folder: bool
    #: memories deleted; ``None`` when persistent memory could not be reached
    memories: int | None
    memory_note: str | None = None


#: ``hook(session_id) -> number of memories deleted``; raising stops the deletion
MemoryDeleteHook = Callable[[str], int]


def delete_session(
    session_id: str,
    *,
    delete_memories: MemoryDeleteHook | None = None,
    registry: SessionRegistry | None = None,
) -> DeleteReport:
    """Delete a session: its memories (through the hook), its state folder, its registry row.

    Memories go first: if that fails the session is left whole, so the user can retry.
    A session in use by another process is refused.
    """
    registry = registry or SessionRegistry()
    check_session_id(session_id)
    record = registry.find(session_id)
    folder = state_dir(session_id)
    if record is None and not folder.exists():
        raise SessionNotFound(registry.not_found_message(session_id))
    with SessionLock(session_id):
        memories: int | None = None
        note = None
        if delete_memories is None:
            note = "persistent memory is not available; no memories were deleted"
        else:
            memories = delete_memories(session_id)
        had_folder = delete_state(session_id)
        had_row = False
        if record is not None:
            try:
                registry.delete(session_id)
                had_row = True
            except SessionNotFound:
                pass
    return DeleteReport(session_id, had_row, had_folder, memories, note)


# ---------------------------------------------------------------------------------- export


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def export_session(session_id: str, *, registry: SessionRegistry | None = None) -> dict[str, Any]:
    """The session as one JSON-ready object: registry row + state, with secrets scrubbed.

    The config in the state is already redacted; every other string (questions, answers,
    conversations) is passed through :func:`massmem.errors.redact` as well.
    """
    registry = registry or SessionRegistry()
    check_session_id(session_id)
    record = registry.find(session_id)
    state = load_state(session_id)
    if record is None and state is None:
        raise SessionNotFound(registry.not_found_message(session_id))
    return _scrub(
        {
            "massmem_export": 1,
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "session": record.as_dict() if record is not None else None,
            "state": state.to_dict() if state is not None else None,
        }
    )
