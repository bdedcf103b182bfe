"""The workflow actions: their tool specs, their JSON fallback, and how a reply becomes one.

A model ends each turn with ``new_answer(content)`` or ``vote(agent_id, reason)``.  Models
that can call tools get them as :class:`ToolSpec`; models that cannot are asked for a JSON
object ``{"action": "new_answer" | "vote", ...}`` (the same arguments), through the
provider's structured-output mode when it has one.  :func:`parse_action` reads either from
a :class:`Completion` and validates it against the state, so every rule the team enforces
is decided here, in one pure function, and explained with an enforcement code that
:mod:`massmem.coordination.prompts` turns into a message for the model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from massmem.backends.base import Completion, JsonSchemaFormat, ToolSpec
from massmem.coordination.state import CoordinationState, normalise_answer

__all__ = [
    "NEW_ANSWER",
    "VOTE",
    "Action",
    "Invalid",
    "InvalidCode",
    "NewAnswer",
    "VoteAction",
    "action_format",
    "extract_json_action",
    "parse_action",
    "validate",
    "workflow_tools",
]

NEW_ANSWER = "new_answer"
VOTE = "vote"

InvalidCode: TypeAlias = Literal[
    "no_action",
    "vote_and_answer",
    "several_actions",
    "unknown_tool",
    "empty_answer",
    "vote_without_answers",
    "unknown_agent",
    "duplicate_answer",
    "answer_limit",
]


@dataclass(frozen=True, slots=True)
class NewAnswer:
    content: str


@dataclass(frozen=True, slots=True)
class VoteAction:
    """A vote for the anonymous id ``agent_id`` (already normalised to ``agentN``)."""

    agent_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Invalid:
    """Why a reply is not an acceptable action; ``detail`` names the specifics for the model."""

    code: InvalidCode
    detail: str = ""


Action: TypeAlias = NewAnswer | VoteAction | Invalid


def workflow_tools(anon_ids: Sequence[str]) -> list[ToolSpec]:
    """The two tools, with the vote target restricted to the team's anonymous ids."""
    return [
        ToolSpec(
            name=NEW_ANSWER,
            description=(
                "Submit your complete answer to the task. Use it when no current answer is good "
                "enough and you can do better. The content must stand on its own."
            ),
            parameters={
                "type": "object",
                "properties": {"content": {"type": "string", "description": "Your full answer to the task."}},
                "required": ["content"],
                "additionalProperties": False,
            },
        ),
        ToolSpec(
            name=VOTE,
            description="Vote for the best current answer (your own included) when you cannot improve on it.",
            parameters={
                "type": "object",
                "properties": {
                    "agent_id": {
                        "type": "string",
                        "enum": list(anon_ids),
                        "description": "The anonymous id of the agent whose answer you vote for.",
                    },
                    "reason": {"type": "string", "description": "One or two sentences on why."},
                },
                "required": ["agent_id", "reason"],
                "additionalProperties": False,
            },
        ),
    ]


def action_format(anon_ids: Sequence[str]) -> JsonSchemaFormat:
    """The JSON-schema response format for models that cannot call tools."""
    return JsonSchemaFormat(
        name="team_action",
        schema={
            "type": "object",
            "properties": {
                "action": {"type": "string", "enum": [NEW_ANSWER, VOTE]},
                "content": {"type": "string"},
                "agent_id": {"type": "string", "enum": list(anon_ids)},
                "reason": {"type": "string"},
            },
            "required": ["action"],
            "additionalProperties": False,
        },
    )


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_decoder = json.JSONDecoder()


def extract_json_action(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` that looks like an action (fenced or bare), if any."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for chunk in candidates:
        start = chunk.find("{")
        while start != -1:
            try:
                value, _ = _decoder.raw_decode(chunk, start)
            except json.JSONDecodeError:
                value = None
            if isinstance(value, dict) and ({"action", "content", "agent_id"} & value.keys()):
                return value
            start = chunk.find("{", start + 1)
    return None


_ANON = re.compile(r"^\s*agent[\s_-]*(\d+)(?:\.\d+)?\s*$", re.IGNORECASE)


def _normalise_target(raw: Any) -> str:
    """Accept ``agent2``, ``Agent 2`` and an answer label ``agent2.1``; return ``agent2``."""
    text = str(raw) if raw is not None else ""
    match = _ANON.match(text)
    return f"agent{int(match.group(1))}" if match else text.strip()


def _from_tool_calls(completion: Completion) -> Action | None:
    calls = completion.tool_calls
    if not calls:
        return None
    names = [c.name for c in calls]
    unknown = [n for n in names if n not in (NEW_ANSWER, VOTE)]
    if unknown:
        return Invalid("unknown_tool", ", ".join(unknown))
    if NEW_ANSWER in names and VOTE in names:
        return Invalid("vote_and_answer")
    if len(calls) > 1:
        return Invalid("several_actions", str(len(calls)))
    return _from_arguments(names[0], calls[0].arguments)


def _from_json(data: dict[str, Any]) -> Action:
    action = data.get("action")
    if action is None:
        has_answer, has_vote = "content" in data, "agent_id" in data
        if has_answer and has_vote:
            return Invalid("vote_and_answer")
        action = NEW_ANSWER if has_answer else VOTE
    if action not in (NEW_ANSWER, VOTE):
        return Invalid("unknown_tool", str(action))
    return _from_arguments(str(action), data)


def _from_arguments(name: str, args: dict[str, Any]) -> Action:
    if name == NEW_ANSWER:
        content = args.get("content")
        return NewAnswer(content if isinstance(content, str) else "")
    return VoteAction(_normalise_target(args.get("agent_id")), str(args.get("reason") or ""))


def validate(
    action: Action,
    state: CoordinationState,
    agent: str,
    *,
    max_answers: int | None = None,
    novelty: str = "lenient",
) -> Action:
    """Apply the team's rules to a well-formed action; return it, or why it is refused."""
    match action:
        case NewAnswer(content=content):
            if not normalise_answer(content) or is_placeholder(content):
                return Invalid("empty_answer")
            if max_answers is not None and len(state.answers_by(agent)) >= max_answers:
                return Invalid("answer_limit", str(max_answers))
            duplicate = state.duplicate_of(content, novelty)
            if duplicate is not None:
                return Invalid("duplicate_answer", duplicate.label)
        case VoteAction(agent_id=target):
            if not state.answers:
                return Invalid("vote_without_answers")
            author = state.real_id(target)
            if author is None or state.latest_answer(author) is None:
                valid = ", ".join(state.anon_id(a.author) for a in state.current_answers())
                return Invalid("unknown_agent", f"{target!r} (valid: {valid})")
    return action


def parse_action(
    completion: Completion,
    state: CoordinationState,
    agent: str,
    *,
    accept_tools: bool = True,
    accept_json: bool = True,
    max_answers: int | None = None,
    novelty: str = "lenient",
) -> Action:
    """Read the one action a reply expresses and check it against the rules.

    Tool calls win over JSON in the text; JSON is only looked for when the reply has no
    workflow tool call and ``accept_json`` is on (a weak model in ``auto`` mode may write
    the action as text even when offered tools).
    """
    action: Action | None = _from_tool_calls(completion) if accept_tools else None
    if action is None and accept_json:
        data = extract_json_action(completion.text)
        if data is not None:
            action = _from_json(data)
    if action is None:
        return Invalid("no_action")
    if isinstance(action, Invalid):
        return action
    return validate(action, state, agent, max_answers=max_answers, novelty=novelty)


_PLACEHOLDER = re.compile(r"^\s*(?:<[^<>]{0,60}>|\.{2,}|…|\W*)\s*$")


def is_placeholder(content: str) -> bool:
    """Weak models copy the instructions' ``<your full answer>`` or write ``...``: not an answer."""
    return bool(_PLACEHOLDER.fullmatch(content))
