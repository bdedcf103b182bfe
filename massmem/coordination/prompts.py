"""Every text the team loop shows a model, rendered from ``templates/*.txt``.

Prompt wording changes often and is reviewed by people who do not read Python, so it lives
in template files (``string.Template`` syntax: ``${name}``; JSON braces need no escaping)
loaded with :mod:`importlib.resources`.  This module only decides *which* template and
*what values*: anonymous ids and answer labels, never an agent's real id.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from importlib import resources
from string import Template
from typing import Literal, TypeAlias

from massmem.coordination.state import Answer, CoordinationState, PastTurn, Vote
from massmem.messages import AssistantMessage, Message, UserMessage

__all__ = [
    "Protocol",
    "answers_block",
    "enforcement_message",
    "history_block",
    "history_messages",
    "next_step_message",
    "plain_task_message",
    "plain_vote_message",
    "presentation_prompt",
    "presentation_system",
    "recorded_message",
    "render",
    "shared_message",
    "system_prompt",
    "task_message",
    "update_message",
]

#: How an agent reports its action in one call.
#: ``text`` is the plain protocol for small models: answer in plain words, then cast a vote.
Protocol: TypeAlias = Literal["tools", "json", "text"]


@functools.cache
def _template(name: str) -> Template:
    text = resources.files("massmem.coordination").joinpath("templates", f"{name}.txt").read_text("utf-8")
    return Template(text)


def render(name: str, **values: object) -> str:
    """Fill template ``name`` (a missing value is a bug, so it raises)."""
    return _template(name).substitute({k: str(v) for k, v in values.items()})


_SECTION = re.compile(r"^\[([a-z_]+)\]\s*$", re.MULTILINE)


@functools.cache
def _sections(name: str) -> dict[str, Template]:
    """A template file split into ``[section]`` parts (used for the enforcement messages)."""
    text = _template(name).template
    parts = _SECTION.split(text)
    return {parts[i]: Template(parts[i + 1].strip()) for i in range(1, len(parts), 2)}


def _persona(system_message: str | None) -> str:
    return f"{system_message.strip()}\n\n" if system_message and system_message.strip() else ""


def _id_list(state: CoordinationState) -> str:
    return ", ".join(state.anon_ids())


def system_prompt(
    state: CoordinationState,
    agent: str,
    system_message: str | None,
    protocol: Protocol,
    *,
    auto: bool,
    sharing: bool = False,
    entries: str | None = None,
) -> str:
    """The system prompt for one call: persona, the team's rules, and how to act in ``protocol``.

    ``sharing`` explains the ``share`` tool (tools and JSON protocols only: plain-text
    models cannot call it); ``entries`` is the rendered block of shared entries in effect.
    The system prompt is rebuilt for every call, so entries shared meanwhile show up on
    the next call and never fall to compression.
    """
    if protocol == "text":
        # Plain text is for small models: the team's rules confuse them into echoing the
        # prompt, so they only see their persona and the question (votes are asked separately).
        return render("system_text", persona=_persona(system_message)).strip()
    ids = _id_list(state)
    if protocol == "tools":
        fallback = render("json_fallback") if auto else ""
        how = render("protocol_tools", agent_ids=ids, fallback=fallback)
    else:
        how = render(f"protocol_{protocol}", agent_ids=ids)
    share = render(f"share_{protocol}").rstrip() if sharing and protocol != "text" else ""
    return render(
        "system",
        persona=_persona(system_message),
        anon_id=state.anon_id(agent),
        team_size=len(state.agent_ids),
        protocol=how.strip(),
        sharing=share,
        entries=f"\n\n{entries}" if entries else "",
    ).strip()


def shared_message(receipts: Sequence[str]) -> str:
    """After a reply that only shared: what became of each entry, and a request for the action."""
    return render("shared", receipts="\n".join(receipts)).strip()


def history_block(history: Sequence[PastTurn]) -> str:
    """Earlier questions of the session and their final answers, or nothing."""
    if not history:
        return ""
    turns = "\n".join(
        render("history_item", number=i, question=t.question.strip(), answer=t.answer.strip()).strip()
        for i, t in enumerate(history, 1)
    )
    return render("history", turns=turns)


def history_messages(history: Sequence[PastTurn]) -> tuple[Message, ...]:
    """Earlier questions of the session as real turns: each question, then its final answer.

    Sent before the current task message, they read as the conversation they were, and
    they are ordinary older messages that compression may summarise when the session grows.
    """
    out: list[Message] = []
    for turn in history:
        out += [UserMessage(turn.question.strip()), AssistantMessage(turn.answer.strip())]
    return tuple(out)


def _items(state: CoordinationState, answers: Sequence[Answer]) -> str:
    return "\n".join(
        render(
            "answer_item", label=a.label, anon_id=state.anon_id(a.author), content=a.content.strip()
        ).strip()
        for a in answers
    )


def answers_block(state: CoordinationState) -> str:
    current = state.current_answers()
    if not current:
        return render("answers_none").strip()
    return render("answers", items=_items(state, current)).strip()


def task_message(question: str, state: CoordinationState, history: Sequence[PastTurn] = ()) -> str:
    """The first message of an agent's work on a question."""
    return render(
        "task", history=history_block(history), question=question.strip(), answers=answers_block(state)
    ).strip()


def plain_task_message(question: str) -> str:
    """The first message in the text protocol: the question alone (earlier turns come as history)."""
    return render("task_text", question=question.strip()).strip()


def plain_vote_message(question: str, state: CoordinationState) -> str:
    """The text protocol's second step: the current answers side by side, and a vote to cast."""
    current = state.current_answers()
    items = "\n".join(
        render("vote_item_text", anon_id=state.anon_id(a.author), content=" ".join(a.content.split())).strip()
        for a in current
    )
    ids = ", ".join(state.anon_id(a.author) for a in current)
    return render("vote_text", question=question.strip(), items=items, agent_ids=ids).strip()


def _current_labels(state: CoordinationState) -> str:
    return ", ".join(a.label for a in state.current_answers()) or "none"


def update_message(state: CoordinationState, new_answers: Sequence[Answer]) -> str:
    """The injected update: answers that arrived while the agent worked."""
    return render("update", new_answers=_items(state, new_answers), current=_current_labels(state)).strip()


def recorded_message(answer: Answer) -> str:
    return render("recorded", label=answer.label).strip()


def next_step_message(state: CoordinationState) -> str:
    """Nothing new arrived: go on and vote (or improve)."""
    return render("next_step", current=_current_labels(state)).strip()


def enforcement_message(code: str, detail: str, protocol: Protocol) -> str:
    """Why the last reply was refused, then how to act in the protocol used for the retry."""
    sections = _sections("enforcement")
    reason = sections[code].substitute(detail=detail)
    return f"{reason}\n{sections[f'reminder_{protocol}'].substitute()}"


def presentation_system(system_message: str | None) -> str:
    return render("presentation_system", persona=_persona(system_message)).strip()


def presentation_prompt(
    question: str, answer: Answer, votes: Sequence[Vote], history: Sequence[PastTurn] = ()
) -> str:
    """Ask the winner for the final answer: the task, its winning answer and what voters said."""
    said = [f"- {v.reason.strip()}" for v in votes if v.reason.strip() and not v.implicit]
    reasons = render("presentation_reasons", reasons="\n".join(said)) if said else ""
    return render(
        "presentation",
        history=history_block(history),
        question=question.strip(),
        answer=answer.content.strip(),
        reasons=reasons,
    ).strip()
