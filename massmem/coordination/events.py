"""What the team loop reports while it runs, for displays, logs and recorders.

The orchestrator yields these from :meth:`Orchestrator.stream`; it never calls display
code, so a rich terminal view, a plain log and a test are all just consumers of one
event stream.  Every event names the agent by its *real* id (people read these; models
never see them).  Each is a frozen, kind-tagged dataclass: switch on them with ``match``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

if TYPE_CHECKING:
    from massmem.coordination.result import RunResult

__all__ = [
    "AgentContextUsage",
    "AgentFailed",
    "AgentReasoningDelta",
    "AgentRetry",
    "AgentStarted",
    "AgentTextDelta",
    "AgentUpdateInjected",
    "AnswerSubmitted",
    "ContextCompressed",
    "CoordinationFinished",
    "EntryShared",
    "Event",
    "FinalAnswerDelta",
    "MemoryAccessed",
    "ProviderToolUsed",
    "ShareRefused",
    "VoteCast",
    "WinnerSelected",
]


@dataclass(frozen=True, slots=True)
class AgentStarted:
    """A model call began.  ``turn`` counts the agent's calls for this question (1-based)."""

    agent_id: str
    turn: int
    protocol: str
    kind: Literal["agent_started"] = "agent_started"


@dataclass(frozen=True, slots=True)
class AgentTextDelta:
    agent_id: str
    text: str
    kind: Literal["agent_text"] = "agent_text"


@dataclass(frozen=True, slots=True)
class AgentReasoningDelta:
    agent_id: str
    text: str
    kind: Literal["agent_reasoning"] = "agent_reasoning"


@dataclass(frozen=True, slots=True)
class ProviderToolUsed:
    """The provider ran one of its own tools for the agent (web search, code execution).

    Shown so people see why a turn took long or what it looked up; massmem did not run it
    and sends nothing back for it.
    """

    agent_id: str
    tool: str
    detail: str = ""
    kind: Literal["provider_tool"] = "provider_tool"


@dataclass(frozen=True, slots=True)
class AnswerSubmitted:
    """An answer was accepted.  ``from_text`` marks a weak model's plain text taken as its answer."""

    agent_id: str
    label: str
    content: str
    revision: int
    from_text: bool = False
    kind: Literal["answer_submitted"] = "answer_submitted"


@dataclass(frozen=True, slots=True)
class VoteCast:
    """A vote was counted.  ``implicit``: inferred from plain text, not cast by the model."""

    agent_id: str
    target_agent_id: str
    target_label: str
    reason: str
    implicit: bool = False
    kind: Literal["vote_cast"] = "vote_cast"


@dataclass(frozen=True, slots=True)
class AgentRetry:
    """A reply was refused; the agent is asked again with an enforcement message."""

    agent_id: str
    reason: str
    attempt: int
    protocol: str
    kind: Literal["agent_retry"] = "agent_retry"


@dataclass(frozen=True, slots=True)
class AgentUpdateInjected:
    """The agent gets another turn showing answers it had not seen.

    ``discarded_vote``: the turn that just ended voted on an outdated set of answers,
    so that vote was not counted.
    """

    agent_id: str
    new_labels: tuple[str, ...]
    discarded_vote: bool = False
    kind: Literal["agent_update"] = "agent_update"


@dataclass(frozen=True, slots=True)
class AgentFailed:
    """The agent is out of this question; ``reason`` is one line for a person."""

    agent_id: str
    reason: str
    kind: Literal["agent_failed"] = "agent_failed"


@dataclass(frozen=True, slots=True)
class ContextCompressed:
    """The agent's older messages were summarised so its request fits the context window.

    ``proactive``: before a call whose estimate passed the trigger threshold; ``reactive``:
    after the provider refused a request as too long (the call is retried once).  Token
    figures are massmem's count (``tokens_before`` is the provider's own when its error
    said); ``window`` is None when unknown.  Nothing stored was deleted: only what is sent.
    """

    agent_id: str
    reason: Literal["proactive", "reactive"]
    tokens_before: int
    tokens_after: int
    window: int | None
    summarised_messages: int = 0
    kept_messages: int = 0
    #: tokens cut from injected context (memories, shared memory) when summarising was not enough
    context_trimmed: int = 0
    kind: Literal["context_compressed"] = "context_compressed"


@dataclass(frozen=True, slots=True)
class AgentContextUsage:
    """How full the agent's context is after a call: ``used`` of ``window`` tokens.

    ``used`` counts the prompt sent plus the reply (the next call sends both back).
    ``estimated``: massmem counted; otherwise the provider reported the prompt's size.
    """

    agent_id: str
    turn: int
    used: int
    window: int | None
    estimated: bool
    kind: Literal["context_usage"] = "context_usage"

    @property
    def percent(self) -> int | None:
        return round(100 * self.used / self.window) if self.window else None


@dataclass(frozen=True, slots=True)
class EntryShared:
    """An agent published a shared entry (``share`` tool); ``replaced``: it supersedes the
    same author's earlier entry of the same type."""

    agent_id: str
    entry_type: str
    scope: str
    content: str
    replaced: bool = False
    kind: Literal["entry_shared"] = "entry_shared"


@dataclass(frozen=True, slots=True)
class ShareRefused:
    """A ``share`` request was not published; ``reason`` is what the model was told."""

    agent_id: str
    reason: str
    kind: Literal["share_refused"] = "share_refused"


@dataclass(frozen=True, slots=True)
class MemoryAccessed:
    """A memory store was queried (``op="query"``) or written (``"add"``) for an agent's call.

    ``store`` is the store's name (``persistent`` for the team's persistent memory);
    ``text`` the query or the start of what was added; ``results`` how many entries a
    query brought into the context; ``ms`` how long it took.
    """

    agent_id: str
    store: str
    op: str
    text: str
    results: int
    ms: float
    kind: Literal["memory"] = "memory"


@dataclass(frozen=True, slots=True)
class WinnerSelected:
    agent_id: str
    label: str
    votes: int
    timed_out: bool = False
    kind: Literal["winner_selected"] = "winner_selected"


@dataclass(frozen=True, slots=True)
class FinalAnswerDelta:
    agent_id: str
    text: str
    kind: Literal["final_answer"] = "final_answer"


@dataclass(frozen=True, slots=True)
class CoordinationFinished:
    """Always the last event of a run that did not raise."""

    result: RunResult
    kind: Literal["finished"] = "finished"


Event: TypeAlias = (
    AgentStarted
    | AgentTextDelta
    | AgentReasoningDelta
    | ProviderToolUsed
    | AnswerSubmitted
    | VoteCast
    | AgentRetry
    | AgentUpdateInjected
    | AgentFailed
    | ContextCompressed
    | AgentContextUsage
    | EntryShared
    | ShareRefused
    | MemoryAccessed
    | WinnerSelected
    | FinalAnswerDelta
    | CoordinationFinished
)
