"""The team loop: agents answer in parallel, see each other's answers, and vote.

Import the public pieces from here::

    from massmem.coordination import Orchestrator, RunResult, PastTurn
"""

from massmem.coordination.events import (
    AgentContextUsage,
    AgentFailed,
    AgentReasoningDelta,
    AgentRetry,
    AgentStarted,
    AgentTextDelta,
    AgentUpdateInjected,
    AnswerSubmitted,
    ContextCompressed,
    CoordinationFinished,
    EntryShared,
    Event,
    FinalAnswerDelta,
    MemoryAccessed,
    ProviderToolUsed,
    ShareRefused,
    VoteCast,
    WinnerSelected,
)
from massmem.coordination.orchestrator import Orchestrator
from massmem.coordination.result import AgentReport, RunResult
from massmem.coordination.state import Answer, CoordinationState, PastTurn, Vote

__all__ = [
    "AgentContextUsage",
    "AgentFailed",
    "AgentReasoningDelta",
    "AgentReport",
    "AgentRetry",
    "AgentStarted",
    "AgentTextDelta",
    "AgentUpdateInjected",
    "Answer",
    "AnswerSubmitted",
    "ContextCompressed",
    "CoordinationFinished",
    "CoordinationState",
    "EntryShared",
    "Event",
    "FinalAnswerDelta",
    "MemoryAccessed",
    "Orchestrator",
    "PastTurn",
    "ProviderToolUsed",
    "RunResult",
    "ShareRefused",
    "Vote",
    "VoteCast",
    "WinnerSelected",
]
