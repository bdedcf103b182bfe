"""The coordination state: answers, votes and per-agent status as plain data.

Everything the team loop decides is a pure function of this state, so the rules
(votes cleared by a new answer, who wins, when the run is over) can be tested without
a single model call.  The orchestrator owns one instance and is its only writer; agent
tasks never touch it, which is why no locks are needed.

Agents are known to models only by anonymous ids (``agent1``..``agentN`` in registration
order); answers are labelled ``agent2.3`` (the third answer of ``agent2``).  Real ids stay
on this side of the prompt.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

__all__ = [
    "AgentStatus",
    "Answer",
    "CoordinationState",
    "PastTurn",
    "Vote",
    "normalise_answer",
]

AgentStatus: TypeAlias = Literal["waiting", "working", "voted", "failed"]


@dataclass(frozen=True, slots=True)
class Answer:
    """One submitted answer.  ``revision`` is the state revision this answer created."""

    label: str
    author: str
    content: str
    revision: int


@dataclass(frozen=True, slots=True)
class Vote:
    """A vote for an agent's latest answer.  ``target`` is the anonymous id (``agent2``).

    ``implicit`` marks a vote the orchestrator inferred (a weak model that only wrote
    text after it had already answered is taken to stand by its own answer).
    """

    voter: str
    target: str
    reason: str = ""
    implicit: bool = False
    revision: int = 0


@dataclass(frozen=True, slots=True)
class PastTurn:
    """An earlier question of the same session and the final answer it got (interactive mode)."""

    question: str
    answer: str


_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


def normalise_answer(text: str) -> str:
    """Collapse whitespace so re-wrapped copies of one answer compare equal."""
    return _SPACE.sub(" ", text).strip()


def _similar(a: str, b: str, threshold: float) -> bool:
    left, right = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    if not left or not right:
        return left == right
    return len(left & right) / len(left | right) >= threshold


@dataclass
class CoordinationState:
    """Answers, votes and status for one question.  Mutated only through its methods."""

    agent_ids: tuple[str, ...]
    answers: list[Answer] = field(default_factory=list)
    #: voter id -> its vote at the current revision (a new answer clears them all)
    votes: dict[str, Vote] = field(default_factory=dict)
    status: dict[str, AgentStatus] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    revision: int = 0

    def __post_init__(self) -> None:
        if len(set(self.agent_ids)) != len(self.agent_ids):
            raise ValueError("agent ids must be unique")
        for agent in self.agent_ids:
            self.status.setdefault(agent, "waiting")

    # -- identities ---------------------------------------------------------------------------

    def anon_id(self, agent: str) -> str:
        return f"agent{self.agent_ids.index(agent) + 1}"

    def real_id(self, anon: str) -> str | None:
        """The agent behind an anonymous id, or ``None`` when no agent has that id."""
        match = re.fullmatch(r"agent(\d+)", anon)
        if not match:
            return None
        index = int(match.group(1)) - 1
        return self.agent_ids[index] if 0 <= index < len(self.agent_ids) else None

    def anon_ids(self) -> list[str]:
        return [f"agent{i + 1}" for i in range(len(self.agent_ids))]

    # -- answers ------------------------------------------------------------------------------

    def answers_by(self, agent: str) -> list[Answer]:
        return [a for a in self.answers if a.author == agent]

    def latest_answer(self, agent: str) -> Answer | None:
        for answer in reversed(self.answers):
            if answer.author == agent:
                return answer
        return None

    def current_answers(self) -> list[Answer]:
        """Each agent's latest answer, in registration order."""
        latest = {a.author: a for a in self.answers}
        return [latest[agent] for agent in self.agent_ids if agent in latest]

    def answers_since(self, revision: int) -> list[Answer]:
        return [a for a in self.answers if a.revision > revision]

    def duplicate_of(self, content: str, novelty: str = "lenient") -> Answer | None:
        """An earlier answer this content merely repeats, under the configured novelty rule.

        ``lenient``: identical after whitespace normalisation.  ``balanced`` / ``strict``:
        also near-identical word sets (Jaccard ≥ 0.9 / ≥ 0.7).
        """
        wanted = normalise_answer(content)
        threshold = {"balanced": 0.9, "strict": 0.7}.get(novelty)
        for answer in reversed(self.answers):
            existing = normalise_answer(answer.content)
            if existing == wanted or (threshold is not None and _similar(existing, wanted, threshold)):
                return answer
        return None

    def add_answer(self, agent: str, content: str) -> Answer:
        """Record a new answer: bumps the revision and clears every vote (they judged older answers)."""
        self._check_agent(agent)
        self.revision += 1
        label = f"{self.anon_id(agent)}.{len(self.answers_by(agent)) + 1}"
        answer = Answer(label=label, author=agent, content=content, revision=self.revision)
        self.answers.append(answer)
        self.votes.clear()
        for other, status in self.status.items():
            if status == "voted":
                self.status[other] = "waiting"
        return answer

    # -- votes --------------------------------------------------------------------------------

    def add_vote(self, voter: str, target: str, reason: str = "", *, implicit: bool = False) -> Vote:
        """Record ``voter``'s vote for the anonymous id ``target``, replacing any earlier one."""
        self._check_agent(voter)
        author = self.real_id(target)
        if author is None or self.latest_answer(author) is None:
            raise ValueError(f"{target!r} has no answer to vote for")
        vote = Vote(voter, target, reason, implicit, self.revision)
        self.votes[voter] = vote
        self.status[voter] = "voted"
        return vote

    def vote_counts(self) -> Counter[str]:
        """Votes per anonymous target id."""
        return Counter(v.target for v in self.votes.values())

    def active_agents(self) -> list[str]:
        return [a for a in self.agent_ids if self.status[a] != "failed"]

    def everyone_voted(self) -> bool:
        """True when at least one agent is active and every active agent holds a current vote."""
        active = self.active_agents()
        return bool(active) and all(agent in self.votes for agent in active)

    def winner(self) -> Answer | None:
        """Most-voted agent's latest answer; ties go to registration order; no votes → first answer.

        "First answer" is the latest answer of the agent who answered first — its author
        refined it since, and the refinement is what the team would have judged.
        """
        counts = self.vote_counts()
        if counts:
            best = max(counts.values())
            for anon in self.anon_ids():
                if counts.get(anon) == best:
                    author = self.real_id(anon)
                    assert author is not None
                    return self.latest_answer(author)
        if not self.answers:
            return None
        return self.latest_answer(self.answers[0].author)

    def best_available(self) -> Answer | None:
        """What a run cut short should use: most votes so far, else the most recent answer."""
        if self.votes:
            return self.winner()
        return self.answers[-1] if self.answers else None

    # -- status -------------------------------------------------------------------------------

    def mark_working(self, agent: str) -> None:
        """The agent started a turn; a vote it held no longer stands for it."""
        self._check_agent(agent)
        if self.status[agent] != "failed":
            self.votes.pop(agent, None)
            self.status[agent] = "working"

    def mark_failed(self, agent: str, reason: str) -> None:
        self._check_agent(agent)
        self.status[agent] = "failed"
        self.failures[agent] = reason
        self.votes.pop(agent, None)

    def _check_agent(self, agent: str) -> None:
        if agent not in self.status:
            raise KeyError(f"unknown agent {agent!r}")
