"""Prompt rendering from templates: ids, history, updates, enforcement, presentation."""

from __future__ import annotations

import typing

import pytest

from massmem.coordination import prompts
from massmem.coordination.state import CoordinationState, PastTurn, Vote
from massmem.coordination.tools import InvalidCode


def state() -> CoordinationState:
    s = CoordinationState(("alice-real", "bob-real"))
    s.add_answer("bob-real", "The answer is 4.")
    return s


def test_system_prompt_per_protocol_uses_anonymous_ids() -> None:
    s = state()
    tools = prompts.system_prompt(s, "alice-real", "Be terse.", "tools", auto=True)
    assert tools.startswith("Be terse.")
    assert "You are agent1, one of 2 agents" in tools
    assert "new_answer(content)" in tools and '{"action": "new_answer"' in tools  # JSON fallback in auto
    assert '{"action"' not in prompts.system_prompt(s, "alice-real", None, "tools", auto=False)
    assert '{"action": "vote"' in prompts.system_prompt(s, "alice-real", None, "json", auto=False)
    # The plain protocol shows a small model only its persona and the question, no team rules.
    plain = prompts.system_prompt(s, "alice-real", "Be terse.", "text", auto=False)
    assert plain.startswith("Be terse.") and "agent" not in plain and "{" not in plain
    for text in (tools, prompts.task_message("q", s)):
        assert "alice-real" not in text and "bob-real" not in text


def test_task_message_lists_current_answers_and_history() -> None:
    s = state()
    text = prompts.task_message("What is 2+2?", s, [PastTurn("What is 1+1?", "Two.")])
    assert "What is 1+1?" in text and "Two." in text
    assert text.index("What is 1+1?") < text.index("What is 2+2?")
    assert '<answer id="agent2.1" agent="agent2">' in text and "The answer is 4." in text
    empty = prompts.task_message("q", CoordinationState(("a",)))
    assert "No agent has answered yet" in empty


def test_update_and_next_step() -> None:
    s = state()
    update = prompts.update_message(s, s.answers)
    assert update.startswith("While you were working, new answers arrived")
    assert "The answer is 4." in update and "agent2.1" in update
    own = s.add_answer("alice-real", "Four.")
    assert "agent1.1" in prompts.recorded_message(own)
    assert "agent1.1, agent2.1" in prompts.next_step_message(s)


@pytest.mark.parametrize("code", typing.get_args(InvalidCode))
@pytest.mark.parametrize("protocol", ["tools", "json", "text"])
def test_every_enforcement_code_has_a_message(code: str, protocol: prompts.Protocol) -> None:
    text = prompts.enforcement_message(code, "DETAIL", protocol)
    assert text.strip() and "$" not in text


def test_presentation_prompt() -> None:
    s = state()
    answer = s.answers[0]
    votes = [Vote("alice-real", "agent2", "clear and right"), Vote("bob-real", "agent2", "x", implicit=True)]
    text = prompts.presentation_prompt("What is 2+2?", answer, votes, [PastTurn("earlier q", "earlier a")])
    assert "The answer is 4." in text and "clear and right" in text and "earlier q" in text
    assert "- x" not in text  # implicit votes have no reason worth showing
    assert prompts.presentation_system("Persona.").startswith("Persona.")
