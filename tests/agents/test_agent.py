"""Agent: request assembly, conversation bookkeeping, hooks, from_config."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from massmem.agents import Agent, ContextBlock, TurnContext, TurnPlan, TurnRecord
from massmem.backends.base import ToolSpec
from massmem.backends.retry import RetryingBackend
from massmem.backends.scripted import AnswerReply, ScriptedBackend, TextReply
from massmem.config.schema import AgentConfig, MemoryConfig
from massmem.errors import ProviderUnavailable
from massmem.messages import (
    AssistantMessage,
    ReasoningDelta,
    StreamEvent,
    SystemMessage,
    TextDelta,
    ToolResultMessage,
    UserMessage,
)


async def test_turn_builds_request_and_records_conversation() -> None:
    backend = ScriptedBackend([TextReply("hello", reasoning="hmm")])
    agent = Agent("a", backend)
    agent.begin("q")
    seen: list[StreamEvent] = []
    completion = await agent.take_turn(TurnPlan(system="SYS", prompt="do it", pin_prompt=True), seen.append)
    assert completion.text == "hello" and completion.reasoning == "hmm"
    assert [type(e) for e in seen] == [ReasoningDelta, TextDelta]
    request = backend.requests[0]
    assert request.messages == [SystemMessage("SYS"), UserMessage("do it")]
    assert agent.conversation.messages() == [UserMessage("do it"), AssistantMessage("hello")]
    assert agent.backend_seconds >= 0


async def test_acknowledge_answers_every_tool_call() -> None:
    agent = Agent("a", ScriptedBackend([AnswerReply("42")]))
    tools = (ToolSpec("new_answer", "", {}),)
    completion = await agent.take_turn(TurnPlan(system="S", prompt="p", tools=tools))
    agent.acknowledge(completion, "Recorded")
    last = agent.conversation.messages()[-1]
    assert isinstance(last, ToolResultMessage) and last.content == "Recorded"


async def test_standalone_turn_leaves_conversation_alone() -> None:
    backend = ScriptedBackend(["final"])
    agent = Agent("a", backend)
    agent.conversation.add(UserMessage("earlier"))
    await agent.take_turn(TurnPlan(system="S", prompt="present", standalone=True))
    assert backend.requests[0].messages == [SystemMessage("S"), UserMessage("present")]
    assert agent.conversation.messages() == [UserMessage("earlier")]


async def test_context_providers_render_blocks_and_failures_are_skipped() -> None:
    calls: list[TurnContext] = []

    async def memories(context: TurnContext) -> Sequence[ContextBlock]:
        calls.append(context)
        return [ContextBlock("Relevant memories", "the user likes short answers")]

    async def broken(context: TurnContext) -> Sequence[ContextBlock]:
        raise RuntimeError("store offline")

    backend = ScriptedBackend(["ok"])
    agent = Agent("a", backend, context_providers=[memories, broken])
    agent.begin("the question")
    await agent.take_turn(TurnPlan(system="SYS", prompt="p"))
    system = backend.requests[0].messages[0]
    assert isinstance(system, SystemMessage)
    assert system.content.startswith("SYS")
    assert '<context label="Relevant memories">' in system.content
    assert "the user likes short answers" in system.content
    assert calls[0].question == "the question" and calls[0].agent_id == "a"
    assert all("Relevant memories" not in getattr(m, "content", "") for m in agent.conversation.messages())


async def test_after_turn_hooks_see_each_call() -> None:
    records: list[TurnRecord] = []

    async def record(turn: TurnRecord) -> None:
        records.append(turn)

    async def broken(turn: TurnRecord) -> None:
        raise RuntimeError("nope")

    agent = Agent("a", ScriptedBackend(["one", "two"]), after_turn=[broken, record])
    agent.begin("q")
    await agent.take_turn(TurnPlan(system="S", prompt="p1"))
    await agent.take_turn(TurnPlan(system="S", prompt="p2"))
    assert [r.completion.text for r in records] == ["one", "two"]
    assert records[0].question == "q" and records[0].agent_id == "a"


async def test_backend_errors_name_the_agent() -> None:
    agent = Agent("alice", ScriptedBackend([ProviderUnavailable("down")]))
    with pytest.raises(ProviderUnavailable) as caught:
        await agent.take_turn(TurnPlan(system="S", prompt="p"))
    assert caught.value.agent_id == "alice"


def test_from_config_uses_registry_memory_bound_and_action_mode() -> None:
    config = AgentConfig.model_validate(
        {
            "id": "alice",
            "system_message": "Be brief.",
            "backend": {"type": "scripted", "replies": ["hi"], "action_mode": "json"},
        }
    )
    memory = MemoryConfig.model_validate({"conversation_memory": {"max_messages": 7}})
    agent = Agent.from_config(config, memory=memory)
    assert agent.id == "alice" and agent.system_message == "Be brief."
    # Built through the registry and wrapped with the retries its config asks for (default 3).
    assert isinstance(agent.backend, RetryingBackend)
    assert isinstance(agent.backend.inner, ScriptedBackend)
    assert agent.backend.max_retries == 3
    assert agent.action_mode == "json"
    assert agent.conversation.max_messages == 7


def test_begin_clears_the_working_conversation() -> None:
    agent = Agent("a", ScriptedBackend())
    agent.conversation.add(UserMessage("old"))
    agent.begin("new")
    assert agent.question == "new" and len(agent.conversation) == 0


async def test_what_the_session_and_the_displays_read_is_the_context_managers() -> None:
    # The session keeps each turn's compressions, the REPL shows the window and the last figure,
    # --debug sets the dump folder: all of them read the agent, all of them are its context's.
    agent = Agent("a", ScriptedBackend(["hi"]))
    agent.debug_dir = None
    await agent.take_turn(TurnPlan(system="S", prompt="p"))
    assert agent.compressions is agent.context.compressions
    assert agent.context_usage is agent.context.usage is not None
    assert agent.context_window == agent.context.window
    assert agent.debug_dir is agent.context.debug_dir is None
