"""Per-session state on disk: everything needed to resume a session, saved after every turn.

Layout (every id checked with :func:`massmem.paths.safe_child` before it becomes a path)::

    MASSMEM_HOME/sessions/<session id>/
        state.json                 the state below, replaced atomically after every turn
        state.json.corrupt-<time>  a state file that could not be read, kept for the user
        .lock                      held (flock) by the process using the session

``state.json`` holds the config the session ran with (secrets redacted), every turn
(question, final answer, winner, votes, answers, per-agent usage and the agent's
conversation on that turn), each agent's current conversation memory and compression
summaries, and where the last ``/reset`` happened.  The winners history (turn → winner)
is derived from the turns: :attr:`SessionState.winners`.

Writes go to a temporary file in the same folder, are flushed and ``fsync``\\ ed, then
``os.replace``\\ d over the old file (and the folder is ``fsync``\\ ed), so a crash at any
moment leaves either the old state or the new one, never a torn file.  A file that still
cannot be read is moved aside and reported with :class:`~massmem.errors.StateCorrupt` —
never silently reset.

This module stores plain data only; it imports nothing from the team loop, so the CLI
turns a ``RunResult`` into a :class:`TurnState` (see ``massmem.team.turns``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

from massmem import paths
from massmem.errors import SessionError, StateCorrupt, StorageError
from massmem.sessions.registry import check_session_id

__all__ = [
    "STATE_FILE",
    "STATE_FORMAT",
    "AgentState",
    "AgentTurn",
    "AnswerRecord",
    "SessionLock",
    "SessionState",
    "TurnState",
    "TurnWinner",
    "VoteRecord",
    "config_hash",
    "delete_state",
    "load_state",
    "save_state",
    "state_dir",
    "state_path",
]

#: version of the ``state.json`` layout; readers refuse newer files and upgrade older ones
STATE_FORMAT = 1
STATE_FILE = "state.json"
_LOCK_FILE = ".lock"


# ------------------------------------------------------------------------------------ data


class TurnWinner(NamedTuple):
    """The agent whose answer won a turn (what turn-aware retrieval filters by)."""

    agent_id: str
    turn: int


@dataclass(slots=True)
class VoteRecord:
    voter: str
    #: the real agent id voted for (models only ever saw anonymous ids)
    target: str
    reason: str = ""
    implicit: bool = False


@dataclass(slots=True)
class AnswerRecord:
    label: str
    author: str
    content: str


@dataclass(slots=True)
class AgentTurn:
    """How one agent took part in one turn."""

    agent_id: str
    status: str = ""
    failure: str | None = None
    answers: int = 0
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    estimated: bool = False
    #: the agent's conversation memory at the end of the turn (``ConversationMemory.to_dict()``)
    conversation: dict[str, Any] | None = None


@dataclass(slots=True)
class TurnState:
    """One answered question of the session."""

    number: int
    question: str
    final_answer: str
    winner: str
    winning_label: str = ""
    votes: list[VoteRecord] = field(default_factory=list)
    answers: list[AnswerRecord] = field(default_factory=list)
    agents: list[AgentTurn] = field(default_factory=list)
    timed_out: bool = False
    presented: bool = False
    presentation_error: str | None = None
    started_at: float = 0.0
    finished_at: float = 0.0
    #: history turns the team saw with this question (after the last reset)
    history_turns: int = 0
    #: shared entries published during this turn (``SharedEntry.to_dict()``): saved with the
    #: turn, so a failed or cancelled turn, which is never saved, leaves none behind
    shared_entries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def vote_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for vote in self.votes:
            counts[vote.target] = counts.get(vote.target, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "question": self.question,
            "final_answer": self.final_answer,
            "winner": self.winner,
            "winning_label": self.winning_label,
            "vote_counts": self.vote_counts,
            "votes": [
                {"voter": v.voter, "target": v.target, "reason": v.reason, "implicit": v.implicit}
                for v in self.votes
            ],
            "answers": [{"label": a.label, "author": a.author, "content": a.content} for a in self.answers],
            "agents": [
                {
                    "agent_id": a.agent_id,
                    "status": a.status,
                    "failure": a.failure,
                    "answers": a.answers,
                    "calls": a.calls,
                    "input_tokens": a.input_tokens,
                    "output_tokens": a.output_tokens,
                    "estimated": a.estimated,
                    "conversation": a.conversation,
                }
                for a in self.agents
            ],
            "timed_out": self.timed_out,
            "presented": self.presented,
            "presentation_error": self.presentation_error,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "history_turns": self.history_turns,
            "shared_entries": list(self.shared_entries),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TurnState:
        return cls(
            number=int(data["number"]),
            question=str(data["question"]),
            final_answer=str(data["final_answer"]),
            winner=str(data["winner"]),
            winning_label=str(data.get("winning_label", "")),
            votes=[
                VoteRecord(
                    str(v["voter"]), str(v["target"]), str(v.get("reason", "")), bool(v.get("implicit"))
                )
                for v in data.get("votes", ())
            ],
            answers=[
                AnswerRecord(str(a["label"]), str(a["author"]), str(a["content"]))
                for a in data.get("answers", ())
            ],
            agents=[
                AgentTurn(
                    agent_id=str(a["agent_id"]),
                    status=str(a.get("status", "")),
                    failure=a.get("failure"),
                    answers=int(a.get("answers", 0)),
                    calls=int(a.get("calls", 0)),
                    input_tokens=int(a.get("input_tokens", 0)),
                    output_tokens=int(a.get("output_tokens", 0)),
                    estimated=bool(a.get("estimated", False)),
                    conversation=a.get("conversation"),
                )
                for a in data.get("agents", ())
            ],
            timed_out=bool(data.get("timed_out", False)),
            presented=bool(data.get("presented", False)),
            presentation_error=data.get("presentation_error"),
            started_at=float(data.get("started_at", 0.0)),
            finished_at=float(data.get("finished_at", 0.0)),
            history_turns=int(data.get("history_turns", 0)),
            shared_entries=[dict(e) for e in data.get("shared_entries") or () if isinstance(e, Mapping)],
        )


@dataclass(slots=True)
class AgentState:
    """What one agent carries between turns."""

    #: ``ConversationMemory.to_dict()`` of the agent's current conversation
    conversation: dict[str, Any] | None = None
    #: compression summaries, oldest first (filled by context compression; kept verbatim)
    summaries: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"conversation": self.conversation, "summaries": list(self.summaries)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgentState:
        return cls(conversation=data.get("conversation"), summaries=list(data.get("summaries") or []))


@dataclass(slots=True)
class SessionState:
    """Everything about one session that a later run needs to carry on."""

    session_id: str
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    config_path: str | None = None
    #: the team config the session last ran with, secrets redacted (``TeamConfig.redacted()``)
    config: dict[str, Any] | None = None
    config_hash: str | None = None
    turns: list[TurnState] = field(default_factory=list)
    agents: dict[str, AgentState] = field(default_factory=dict)
    #: turns up to this number are not shown to the team again (``/reset``); 0 = none reset
    reset_after: int = 0
    #: the turn count the registry knew when this state was started (a state file that was
    #: lost or set aside must not make turn numbers start again at 1)
    turn_offset: int = 0

    # -- derived ----------------------------------------------------------------------------
    @property
    def last_turn(self) -> int:
        """Number of the last answered turn (0 before the first)."""
        return max([t.number for t in self.turns], default=self.turn_offset)

    @property
    def next_turn(self) -> int:
        return self.last_turn + 1

    @property
    def winners(self) -> list[TurnWinner]:
        """Turn → winning agent, oldest first, for turn-aware memory retrieval."""
        return [TurnWinner(t.winner, t.number) for t in self.turns]

    def history(self) -> list[tuple[str, str]]:
        """``(question, final answer)`` of every turn since the last reset, oldest first."""
        return [(t.question, t.final_answer) for t in self.turns if t.number > self.reset_after]

    def shared_entries(self) -> list[dict[str, Any]]:
        """Conversation-scoped shared entries of the turns since the last reset, oldest first."""
        return [
            entry
            for t in self.turns
            if t.number > self.reset_after
            for entry in t.shared_entries
            if entry.get("scope") == "conversation"
        ]

    # -- changes ----------------------------------------------------------------------------
    def add_turn(self, turn: TurnState) -> None:
        if turn.number <= self.last_turn:
            raise SessionError(f"turn {turn.number} is not after turn {self.last_turn} of {self.session_id}")
        self.turns.append(turn)
        for agent in turn.agents:
            state = self.agents.setdefault(agent.agent_id, AgentState())
            state.conversation = agent.conversation
        self.updated_at = time.time()

    def reset(self) -> None:
        """Earlier turns stay recorded but are no longer shown to the team; conversations empty."""
        self.reset_after = self.last_turn
        for state in self.agents.values():
            state.conversation = None
        self.updated_at = time.time()

    # -- (de)serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "session_id": self.session_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "config_path": self.config_path,
            "config_hash": self.config_hash,
            "config": self.config,
            "reset_after": self.reset_after,
            "turn_offset": self.turn_offset,
            "winners": [{"turn": w.turn, "agent_id": w.agent_id} for w in self.winners],
            "turns": [t.to_dict() for t in self.turns],
            "agents": {agent_id: s.to_dict() for agent_id, s in self.agents.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionState:
        fmt = data.get("format")
        if not isinstance(fmt, int) or fmt < 1:
            raise ValueError(f"no valid 'format' field (found {fmt!r})")
        if fmt > STATE_FORMAT:
            raise _TooNew(fmt)
        return _validate(data)


@functools.cache
def _adapter() -> Any:
    """A pydantic validator built from the dataclasses above (built once, on first load)."""
    from pydantic import TypeAdapter

    return TypeAdapter(SessionState)


def _validate(data: Mapping[str, Any]) -> SessionState:
    """``data`` as a :class:`SessionState`, checked field by field against the classes that write it.

    Why: valid JSON of the wrong shape (``"agents": [1]``) used to pass a hand-written reader
    and fail later with a traceback; now it is a ``ValueError`` naming the first bad field, and
    :func:`load_state` moves the file aside like any unreadable one.  Keys the classes do not
    have (``format``, the derived ``winners`` and ``vote_counts``) are ignored.
    """
    from pydantic import ValidationError

    try:
        return _adapter().validate_python(dict(data))  # type: ignore[no-any-return]
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        where = ".".join(str(part) for part in first["loc"]) or "the top level"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ValueError(f"{where}: {first['msg']}{more}") from None


class _TooNew(Exception):
    def __init__(self, fmt: int) -> None:
        super().__init__(fmt)
        self.fmt = fmt


def config_hash(config: Mapping[str, Any] | None) -> str | None:
    """A short, stable fingerprint of a (redacted) config: tells when a session's team changed."""
    if config is None:
        return None
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


# ------------------------------------------------------------------------------------ files


def state_dir(session_id: str) -> Path:
    """``MASSMEM_HOME/sessions/<id>`` after checking the id is safe as a file name.

    A ``sessions`` folder or session folder that is a symbolic link is refused: following
    it would read and write session state outside ``MASSMEM_HOME``.
    """
    check_session_id(session_id)
    folder = paths.safe_child(paths.sessions_dir(), session_id)
    for part in (folder.parent, folder):
        if part.is_symlink():
            raise StorageError(
                f"{part} is a symbolic link; massmem keeps session state only inside MASSMEM_HOME "
                "and does not follow it — remove the link (move the folder it points to into its place "
                "to keep that state)"
            )
    return folder


def state_path(session_id: str) -> Path:
    return state_dir(session_id) / STATE_FILE


def _remove_stale_temps(folder: Path) -> None:
    """Temporary files a killed process left behind (older than a minute)."""
    cutoff = time.time() - 60
    for stale in folder.glob(f".{STATE_FILE}.*.tmp"):
        with contextlib.suppress(OSError):
            if stale.stat().st_mtime < cutoff:
                stale.unlink()


def save_state(state: SessionState) -> Path:
    """Write ``state`` atomically; returns the file's path.

    A full disk, a file-size limit or a file in the way is a :class:`StorageError` naming the
    path (the old state stays whole: the write goes to a temporary file first).
    """
    path = state_path(state.session_id)
    state.updated_at = time.time()
    text = json.dumps(state.to_dict(), ensure_ascii=False, indent=1)
    paths.ensure_dir(path.parent)
    try:
        paths.atomic_write_text(path, text)
    except OSError as exc:
        raise paths.storage_error(exc, path, "write the session state") from None
    _remove_stale_temps(path.parent)
    return path


def _set_aside(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    path.replace(aside)
    return aside


def load_state(session_id: str) -> SessionState | None:
    """The saved state of ``session_id``; ``None`` when it has none yet.

    A file that cannot be read is moved to ``state.json.corrupt-<time>`` and reported with
    :class:`StateCorrupt`; one written by a newer massmem is refused and left in place.
    """
    path = state_path(session_id)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SessionError(f"the state of session {session_id!r} cannot be read ({path}): {exc}") from exc
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("the file does not hold a JSON object")
        state = SessionState.from_dict(data)
        if state.session_id != session_id:
            raise ValueError(f"it belongs to session {state.session_id!r}")
    except _TooNew as exc:
        raise SessionError(
            f"the state of session {session_id!r} ({path}) has format {exc.fmt}, newer than this massmem "
            f"understands ({STATE_FORMAT}); upgrade massmem to resume it (the file was left untouched)"
        ) from None
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        try:
            aside = _set_aside(path)
        except OSError:
            raise StateCorrupt(
                f"the state of session {session_id!r} ({path}) is unreadable ({exc}); move it away and retry"
            ) from None
        raise StateCorrupt(
            f"the state of session {session_id!r} was unreadable ({exc}); it was moved to {aside}. "
            "Run the command again to continue the session without its earlier history "
            "(turn numbers carry on from the registry)."
        ) from None
    return state


def delete_state(session_id: str) -> bool:
    """Remove the session's folder (state, set-aside files, lock); ``True`` if there was one."""
    folder = state_dir(session_id)
    if not folder.exists():
        return False
    shutil.rmtree(folder)
    return True


# ------------------------------------------------------------------------------------ lock


class SessionLock:
    """An exclusive, advisory lock on one session for the lifetime of a process's use of it.

    Two processes resuming the same session would overwrite each other's turns; the second
    one is refused instead.  The operating system drops the lock when the holder dies, so
    a killed process never leaves a session locked.  (POSIX ``flock``; on systems without
    it the lock is a no-op.)
    """

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.path = state_dir(session_id) / _LOCK_FILE
        self._handle: IO[str] | None = None

    def acquire(self) -> SessionLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return self
        paths.ensure_dir(self.path.parent)
        try:
            # O_NOFOLLOW: a planted link must not make the pid write land outside the folder.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as exc:
            raise paths.storage_error(exc, self.path, "open the session lock") from None
        handle = open(fd, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise SessionError(
                f"session {self.session_id!r} is in use by another massmem process (pid {holder}); "
                "wait for it to finish or pick another --session-id"
            ) from None
        with contextlib.suppress(OSError):  # the pid is a courtesy for the refusal message
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()
            self._handle = None

    def __enter__(self) -> SessionLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def locked(session_id: str) -> Iterator[SessionLock]:
    with SessionLock(session_id) as lock:
        yield lock
