"""The workflow actions: their tool specs, their JSON fallback, and how a reply becomes one.

A model ends each turn with ``new_answer(content)`` or ``vote(agent_id, reason)``.  Models
that can call tools get them as :class:`ToolSpec`; models that cannot are asked for a JSON
object ``{"action": "new_answer" | "vote", ...}`` (the same arguments), through the
provider's structured-output mode when it has one.

When the team enables shared entries, a third tool, ``share(type, content, scope)``,
publishes a typed entry for the whole team.  It does not end the turn: a reply may share
and act at once, or share and be asked for its action (JSON replies carry the same
requests in a ``"share"`` list).  :func:`share_requests` reads them; the action parser
ignores them.  :func:`parse_action` reads either from
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
from massmem.coordination.scaffolding import clean_answer, find_scaffolding, is_placeholder
from massmem.coordination.state import CoordinationState, normalise_answer

__all__ = [
    "NEW_ANSWER",
    "SHARE",
    "VOTE",
    "Action",
    "Invalid",
    "InvalidCode",
    "NewAnswer",
    "ShareRequest",
    "VoteAction",
    "action_format",
    "extract_json_action",
    "parse_action",
    "share_requests",
    "validate",
    "workflow_tools",
]

NEW_ANSWER = "new_answer"
VOTE = "vote"
SHARE = "share"

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
    "scaffolding",
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


@dataclass(frozen=True, slots=True)
class ShareRequest:
    """A ``share`` the model asked for, unchecked; ``call_id`` is None for a JSON reply."""

    type: Any
    content: Any
    scope: Any
    call_id: str | None = None


def share_tool(types: Sequence[str] | None = None) -> ToolSpec:
    """The ``share`` tool; ``types`` restricts the entry type when the team configured a list."""
    type_schema: dict[str, Any] = {
        "type": "string",
        "description": "One word naming the kind of entry, e.g. plan, finding, constraint.",
    }
    if types:
        type_schema["enum"] = list(types)
    return ToolSpec(
        name=SHARE,
        description=(
            "Publish an entry every agent on the team will see from now on: a plan, a key "
            "finding, a constraint. It does not end your turn - still finish with new_answer or "
            "vote. A later entry of the same type from you replaces your earlier one. scope "
            "'round': for the current question only; 'conversation': also for later questions."
        ),
        parameters={
            "type": "object",
            "properties": {
                "type": type_schema,
                "content": {"type": "string", "description": "The entry itself, self-contained."},
                "scope": {"type": "string", "enum": ["round", "conversation"]},
            },
            "required": ["type", "content", "scope"],
            "additionalProperties": False,
        },
    )


def workflow_tools(
    anon_ids: Sequence[str], *, share: bool = False, share_types: Sequence[str] | None = None
) -> list[ToolSpec]:
    """The action tools, with the vote target restricted to the team's anonymous ids.

    ``share`` adds the non-terminal ``share`` tool (see :func:`share_tool`).
    """
    extra = [share_tool(share_types)] if share else []
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
        *extra,
    ]


def action_format(
    anon_ids: Sequence[str],
    *,
    share: bool = False,
    share_types: Sequence[str] | None = None,
    answer_only: bool = False,
    vote_only: bool = False,
) -> JsonSchemaFormat:
    """The JSON-schema response format for models that cannot call tools.

    ``share`` allows an optional ``"share"`` list of entries beside the action.
    ``answer_only`` (nothing to vote for yet) admits only a new answer with content: a
    grammar-constrained small model otherwise picks "vote" and is refused until it gives up.
    ``vote_only`` admits only a vote for one of ``anon_ids`` (the plain protocol's second step).
    """
    properties: dict[str, Any] = {
        "action": {"type": "string", "enum": [NEW_ANSWER, VOTE]},
        "content": {"type": "string"},
        "agent_id": {"type": "string", "enum": list(anon_ids)},
        "reason": {"type": "string"},
    }
    required = ["action"]
    if vote_only:
        properties = {
            "action": {"type": "string", "enum": [VOTE]},
            "agent_id": {"type": "string", "enum": list(anon_ids)},
        }
        required = ["action", "agent_id"]
    elif answer_only:
        properties = {
            "action": {"type": "string", "enum": [NEW_ANSWER]},
            "content": {"type": "string", "minLength": 1},
        }
        required = ["action", "content"]
    if share:
        properties["share"] = {"type": "array", "items": share_tool(share_types).parameters}
    return JsonSchemaFormat(
        name="team_action",
        schema={
            "type": "object",
            "properties": properties,
            "required": required,
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
            if isinstance(value, dict) and ({"action", "content", "agent_id", "share"} & value.keys()):
                return value
            start = chunk.find("{", start + 1)
    return None


_ANON = re.compile(r"^\s*agent[\s_-]*(\d+)(?:\.\d+)?\s*$", re.IGNORECASE)


def _normalise_target(raw: Any) -> str:
    """Accept ``agent2``, ``Agent 2`` and an answer label ``agent2.1``; return ``agent2``."""
    text = str(raw) if raw is not None else ""
    match = _ANON.match(text)
    return f"agent{int(match.group(1))}" if match else text.strip()


def _from_tool_calls(completion: Completion, *, allow_share: bool = False) -> Action | None:
    calls = [c for c in completion.tool_calls if not (allow_share and c.name == SHARE)]
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


def _from_json(data: dict[str, Any]) -> Action | None:
    action = data.get("action")
    if action is None and not ({"content", "agent_id"} & data.keys()):
        return None  # only entries to share
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
            clean = clean_answer(content)
            if clean is None:
                return Invalid("scaffolding", find_scaffolding(content) or "")
            # markup after a real answer is cut off; the answer before it stands
            content = clean
            action = NewAnswer(clean)
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
    allow_share: bool = False,
) -> Action:
    """Read the one action a reply expresses and check it against the rules.

    Tool calls win over JSON in the text; JSON is only looked for when the reply has no
    workflow tool call and ``accept_json`` is on (a weak model in ``auto`` mode may write
    the action as text even when offered tools).  With ``allow_share``, ``share`` calls are
    not actions (and not unknown tools): :func:`share_requests` handles them.
    """
    action: Action | None = _from_tool_calls(completion, allow_share=allow_share) if accept_tools else None
    if action is None and accept_json:
        data = extract_json_action(completion.text)
        if data is not None:
            action = _from_json(data)
    if action is None:
        return Invalid("no_action")
    if isinstance(action, Invalid):
        return action
    return validate(action, state, agent, max_answers=max_answers, novelty=novelty)


def share_requests(
    completion: Completion, *, accept_tools: bool = True, accept_json: bool = True
) -> list[ShareRequest]:
    """Every entry a reply asks to share: ``share`` tool calls, else a JSON reply's ``share`` list."""
    if accept_tools:
        calls = [c for c in completion.tool_calls if c.name == SHARE]
        if calls:
            return [
                ShareRequest(
                    c.arguments.get("type"), c.arguments.get("content"), c.arguments.get("scope"), c.id
                )
                for c in calls
            ]
    if not accept_json or completion.tool_calls:
        return []
    data = extract_json_action(completion.text)
    raw = data.get("share") if data is not None else None
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        return []
    return [
        ShareRequest(item.get("type"), item.get("content"), item.get("scope"))
        for item in raw
        if isinstance(item, dict)
    ]
