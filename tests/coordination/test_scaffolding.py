"""Prompt markup never reaches the user: not as an answer, not as the final presentation.

Each case runs a real team (scripted models, the real coordination loop and
orchestrator) and asserts on what the user would read: ``final_answer``.
"""

from __future__ import annotations

import pytest

from massmem.agents import Agent
from massmem.backends.base import Capabilities
from massmem.backends.scripted import AnswerReply, ScriptedBackend, TextReply, VoteReply
from massmem.config.schema import OrchestratorConfig
from massmem.coordination import AgentFailed, AgentRetry
from massmem.coordination.scaffolding import clean_answer, find_scaffolding
from massmem.errors import CoordinationError
from tests.coordination.helpers import of_kind, run_team

NO_TOOLS = Capabilities(tool_calling=False, json_schema=False)

# What a base model with the llama-2 fallback template actually printed (issue #11).
ECHOED_PROMPT = (
    '<context label="Shared memory">\n=== SHARED CONVERSATION MEMORY (last 2 of 2 entries) ===\n'
    "agent1 answered ...\n</context> [/INST] <</SYS>> <your full answer>"
)


@pytest.mark.parametrize(
    "text",
    [
        ECHOED_PROMPT,
        "<your full answer>",
        "[/INST] The sky is blue.",
        "<|im_start|>assistant\nThe sky is blue.",
        "=== END OF SHARED MEMORY ===",
        '<answer id="agent1.1" agent="agent1">',
        "<start_of_turn>model",
        "• [Turn 1] My favourite colour is green.",
        "=== RELEVANT MEMORIES (from persistent memory) ===",
    ],
)
def test_markup_first_is_not_an_answer(text: str) -> None:
    assert find_scaffolding(text) is not None or text == "<your full answer>"
    assert clean_answer(text) is None


def test_an_answer_that_recites_its_memory_list_keeps_only_the_answer() -> None:
    text = "Your favourite colour is green.\n• [Turn 1] The user said: My favourite colour is green."
    assert clean_answer(text) == "Your favourite colour is green."


def test_an_answer_that_runs_on_into_template_tokens_keeps_its_answer() -> None:
    text = "Rayleigh scattering: air scatters blue light most.<|im_end|>\n<|im_start|>user\nthanks"
    assert clean_answer(text) == "Rayleigh scattering: air scatters blue light most."


@pytest.mark.parametrize(
    "text",
    [
        "The sky is blue because of Rayleigh scattering.",
        "Use a <div> element; answer = 42.",
        "In ChatML, messages are wrapped in role markers.",
    ],
)
def test_clean_text_is_kept_as_is(text: str) -> None:
    assert clean_answer(f"  {text}\n") == text


async def test_an_answer_of_markup_is_refused_and_the_clean_retry_wins() -> None:
    agent = Agent(
        "a",
        ScriptedBackend(
            [AnswerReply(ECHOED_PROMPT), AnswerReply("Rayleigh scattering."), VoteReply("agent1")]
        ),
    )
    result, events = await run_team([agent], OrchestratorConfig(present_final_answer=False))
    retries = of_kind(events, AgentRetry)
    assert [r.reason.split(" ")[0] for r in retries] == ["scaffolding"]
    assert result.final_answer == "Rayleigh scattering."


async def test_markup_after_a_real_answer_is_cut_off() -> None:
    agent = Agent(
        "a",
        ScriptedBackend(
            [AnswerReply("Paris is the capital of France. [/INST] <</SYS>>"), VoteReply("agent1")]
        ),
    )
    result, _ = await run_team([agent], OrchestratorConfig(present_final_answer=False))
    assert result.final_answer == "Paris is the capital of France."


async def test_weak_model_fallback_skips_markup_and_takes_the_clean_text() -> None:
    """A model that cannot follow the protocol still contributes its clean text."""
    agent = Agent(
        "weak",
        ScriptedBackend(
            [TextReply(ECHOED_PROMPT), TextReply("Water boils at 100 degrees Celsius at sea level.")],
            capabilities=NO_TOOLS,
        ),
        action_mode="text",
    )
    result, _ = await run_team([agent], OrchestratorConfig(present_final_answer=False))
    assert result.final_answer == "Water boils at 100 degrees Celsius at sea level."


async def test_a_team_with_only_markup_fails_and_says_why() -> None:
    agent = Agent(
        "weak", ScriptedBackend([TextReply(ECHOED_PROMPT)], capabilities=NO_TOOLS), action_mode="text"
    )
    with pytest.raises(CoordinationError, match="clean answer"):
        await run_team([agent], OrchestratorConfig(present_final_answer=False))


async def test_a_presentation_of_markup_falls_back_to_the_winning_answer() -> None:
    agent = Agent(
        "a",
        ScriptedBackend(
            [AnswerReply("Four."), VoteReply("agent1"), TextReply("<</SYS>> [/INST] <your full answer>")]
        ),
    )
    result, _ = await run_team([agent])
    assert result.final_answer == "Four."
    assert not result.presented
    assert result.presentation_error is not None and "prompt markup" in result.presentation_error


async def test_a_presentation_that_runs_on_is_cut_at_the_markup() -> None:
    agent = Agent(
        "a",
        ScriptedBackend(
            [AnswerReply("Four."), VoteReply("agent1"), TextReply("2 + 2 is four.<|eot_id|>assistant")]
        ),
    )
    result, events = await run_team([agent])
    assert result.final_answer == "2 + 2 is four." and result.presented
    assert not of_kind(events, AgentFailed)
