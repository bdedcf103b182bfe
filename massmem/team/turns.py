"""A finished run as plain data: the turn a session saves, the ``--json`` shape, the notes.

The coordination layer hands back a :class:`~massmem.coordination.result.RunResult`; the
session keeps a :class:`~massmem.sessions.state.TurnState`.  This is the one place that
translates between them (votes re-attributed from anonymous labels to agent ids).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from massmem.sessions.state import AgentTurn, AnswerRecord, TurnState, VoteRecord

if TYPE_CHECKING:
    from massmem.coordination.result import RunResult

__all__ = ["result_as_dict", "result_notes", "turn_from_result"]


def turn_from_result(
    result: RunResult,
    *,
    number: int,
    started_at: float,
    history_turns: int,
    conversations: dict[str, dict[str, Any]],
) -> TurnState:
    """A finished run as the plain data a session state stores."""
    by_anon = {r.anon_id: r.agent_id for r in result.agents}
    return TurnState(
        number=number,
        question=result.question,
        final_answer=result.final_answer,
        winner=result.winner,
        winning_label=result.winning_answer.label,
        votes=[
            VoteRecord(v.voter, by_anon.get(v.target, v.target), v.reason, v.implicit) for v in result.votes
        ],
        answers=[AnswerRecord(a.label, a.author, a.content) for a in result.answers],
        agents=[
            AgentTurn(
                agent_id=r.agent_id,
                status=str(r.status),
                failure=r.failure,
                answers=r.answers,
                calls=r.calls,
                input_tokens=r.usage.input_tokens,
                output_tokens=r.usage.output_tokens,
                estimated=r.usage.estimated,
                conversation=conversations.get(r.agent_id),
            )
            for r in result.agents
        ],
        timed_out=result.timed_out,
        presented=result.presented,
        presentation_error=result.presentation_error,
        started_at=started_at,
        finished_at=time.time(),
        history_turns=history_turns,
        shared_entries=[e.to_dict() for e in result.shared_entries],
    )


def result_as_dict(
    result: Any, session_id: str, *, turn: int | None = None, history_turns: int | None = None
) -> dict[str, Any]:
    """The ``--json`` shape of a finished run (no secrets: only ids, text, counts)."""
    return {
        "session_id": session_id,
        "turn": turn,
        "history_turns": history_turns,
        "question": result.question,
        "final_answer": result.final_answer,
        "winner": result.winner,
        "winning_answer": {"label": result.winning_answer.label, "content": result.winning_answer.content},
        "vote_counts": result.vote_counts,
        "answers": [{"label": a.label, "author": a.author, "content": a.content} for a in result.answers],
        "agents": [
            {
                "id": r.agent_id,
                "status": str(r.status),
                "failure": r.failure,
                "answers": r.answers,
                "calls": r.calls,
                "input_tokens": r.usage.input_tokens,
                "output_tokens": r.usage.output_tokens,
            }
            for r in result.agents
        ],
        "timed_out": result.timed_out,
        "presented": result.presented,
        "presentation_error": result.presentation_error,
        "seconds": round(result.total_seconds, 3),
        "usage": {"input_tokens": result.usage.input_tokens, "output_tokens": result.usage.output_tokens},
        "shared_entries": [e.to_dict() for e in getattr(result, "shared_entries", ())],
    }


def result_notes(result: RunResult) -> list[str]:
    """What the user should hear about a finished turn besides its answer."""
    notes = [f"agent {agent_id} dropped out: {reason}" for agent_id, reason in result.failures.items()]
    if result.timed_out:
        notes.append("the team ran out of time; this is the best answer so far")
    return notes
