"""Where a call's memories go: the system prompt, or (plain protocol) before the question."""

from __future__ import annotations

from massmem.agents import Agent, ContextBlock, TurnContext
from massmem.backends.base import Capabilities
from massmem.backends.scripted import AnswerReply, ScriptedBackend, TextReply, VoteReply
from massmem.config.schema import OrchestratorConfig
from massmem.messages import SystemMessage, UserMessage
from tests.coordination.helpers import backend_of, run_team

MEMORY = "The user said: my favourite colour is green."


async def remembered(context: TurnContext) -> list[ContextBlock]:
    return [ContextBlock("Relevant memories", MEMORY)]


async def test_plain_protocol_puts_memories_in_front_of_the_question_not_in_the_system_prompt() -> None:
    agent = Agent(
        "small",
        ScriptedBackend(
            [TextReply("Green."), VoteReply("agent1")], capabilities=Capabilities(tool_calling=False)
        ),
        action_mode="text",
    )
    agent.context_providers.append(remembered)
    await run_team([agent], OrchestratorConfig(present_final_answer=False), question="What is my colour?")
    first = backend_of(agent).requests[0].messages
    assert isinstance(first[0], SystemMessage) and MEMORY not in first[0].content
    assert isinstance(first[-1], UserMessage)
    assert first[-1].content.startswith('<context label="Relevant memories">')
    assert first[-1].content.endswith("What is my colour?")
    # Only the request carries the block: the next call's history holds the question as asked.
    second = backend_of(agent).requests[1].messages
    assert next(m.content for m in second if isinstance(m, UserMessage)) == "What is my colour?"


async def test_other_protocols_keep_memories_in_the_system_prompt() -> None:
    agent = Agent("big", ScriptedBackend([AnswerReply("Green."), VoteReply("agent1")]))
    agent.context_providers.append(remembered)
    await run_team([agent], OrchestratorConfig(present_final_answer=False), question="What is my colour?")
    first = backend_of(agent).requests[0].messages
    assert isinstance(first[0], SystemMessage) and MEMORY in first[0].content
    assert all(MEMORY not in m.content for m in first[1:] if isinstance(m, UserMessage))
