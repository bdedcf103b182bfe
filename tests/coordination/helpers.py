"""Small builders shared by the coordination tests."""

from __future__ import annotations

from collections.abc import Sequence

from massmem.agents import Agent
from massmem.backends.base import Backend, ModelRequest
from massmem.backends.scripted import Reply, ScriptedBackend, _normalise
from massmem.config.schema import OrchestratorConfig
from massmem.coordination import Event, Orchestrator, RunResult
from massmem.messages import AssistantMessage, SystemMessage, ToolResultMessage


def scripted_agent(agent_id: str, replies: Sequence[Reply], **backend_kwargs: object) -> Agent:
    return Agent(agent_id, ScriptedBackend(replies, **backend_kwargs))  # type: ignore[arg-type]


def scripted(agent: Agent) -> ScriptedBackend:
    """The scripted model under an agent's wrapper backends (retry, fallback)."""
    backend: Backend = agent.backend
    while not isinstance(backend, ScriptedBackend):
        backend = backend.inner  # type: ignore[attr-defined]
    return backend


def script(agent: Agent, *replies: Reply) -> None:
    """Give the agent's scripted model the replies for the next question."""
    backend = scripted(agent)
    backend.replies = [_normalise(r) for r in replies]
    backend.requests.clear()
    backend._next = 0


def system_of(agent: Agent, call: int = 0) -> str:
    """The system prompt of the agent's ``call``-th request."""
    message = scripted(agent).requests[call].messages[0]
    assert isinstance(message, SystemMessage)
    return message.content


def backend_of(agent: Agent) -> ScriptedBackend:
    backend: Backend = agent.backend
    assert isinstance(backend, ScriptedBackend)
    return backend


async def run_team(
    agents: Sequence[Agent],
    config: OrchestratorConfig | None = None,
    question: str = "What is 2+2?",
    **kwargs: object,
) -> tuple[RunResult, list[Event]]:
    events: list[Event] = []
    result = await Orchestrator(agents, config, **kwargs).run(question, on_event=events.append)  # type: ignore[arg-type]
    return result, events


def request_text(request: ModelRequest) -> str:
    """Everything a model was shown in one request, as one string."""
    parts: list[str] = []
    for message in request.messages:
        parts.append(getattr(message, "content", ""))
        if isinstance(message, AssistantMessage):
            parts += [str(c.arguments) for c in message.tool_calls]
        if isinstance(message, ToolResultMessage):
            parts.append(message.name)
    for tool in request.tools:
        parts += [tool.name, tool.description, str(tool.parameters)]
    if request.response_format is not None:
        parts.append(str(request.response_format.schema))
    return "\n".join(parts)


def of_kind(events: Sequence[Event], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]
