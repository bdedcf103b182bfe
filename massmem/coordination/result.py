"""What a finished run hands back: :class:`RunResult` and one :class:`AgentReport` per agent."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from massmem.coordination.state import AgentStatus, Answer, Vote
from massmem.memory.scoped_entries import ScopedEntry
from massmem.messages import Usage

__all__ = ["AgentReport", "RunResult"]


@dataclass(frozen=True, slots=True)
class AgentReport:
    """How one agent took part.  ``status`` is its state when the run ended; ``usage``
    includes the summary requests its context compression made during the run."""

    agent_id: str
    anon_id: str
    status: AgentStatus
    failure: str | None
    answers: int
    calls: int
    usage: Usage
    backend_seconds: float


@dataclass(frozen=True, slots=True)
class RunResult:
    """The outcome of one question.

    ``final_answer`` is the winner's presentation, or the winning answer's text when the
    presentation was skipped, failed (``presentation_error`` says why) or came back empty.
    ``votes`` are the votes standing at the end (implicit ones marked).
    ``shared_entries`` are the entries published during this round, in order (superseded
    ones included); whoever keeps the round keeps them with it.
    """

    question: str
    final_answer: str
    winner: str
    winning_answer: Answer
    votes: tuple[Vote, ...]
    answers: tuple[Answer, ...]
    agents: tuple[AgentReport, ...]
    timed_out: bool
    presented: bool
    presentation_error: str | None
    coordination_seconds: float
    presentation_seconds: float
    usage: Usage
    shared_entries: tuple[ScopedEntry, ...] = ()

    @property
    def total_seconds(self) -> float:
        return self.coordination_seconds + self.presentation_seconds

    @property
    def failures(self) -> dict[str, str]:
        """Agent id -> one-line reason, for every agent that dropped out."""
        return {r.agent_id: r.failure for r in self.agents if r.failure is not None}

    @property
    def vote_counts(self) -> dict[str, int]:
        """Votes per *real* agent id (for display; models only ever saw anonymous ids)."""
        by_anon = {r.anon_id: r.agent_id for r in self.agents}
        counts = Counter(by_anon.get(v.target, v.target) for v in self.votes)
        return dict(counts)

    @property
    def calls(self) -> int:
        return sum(r.calls for r in self.agents)

    def agent(self, agent_id: str) -> AgentReport:
        for report in self.agents:
            if report.agent_id == agent_id:
                return report
        raise KeyError(agent_id)
