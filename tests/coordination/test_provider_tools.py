"""A provider's own tool activity reaches the live view and is never answered as a tool call."""

from __future__ import annotations

from collections.abc import AsyncIterator

from massmem.agents import Agent
from massmem.backends.base import ModelRequest
from massmem.backends.scripted import AnswerReply, ScriptedBackend, VoteReply
from massmem.cli.display import describe
from massmem.coordination.events import AnswerSubmitted, ProviderToolUsed
from massmem.messages import ServerToolActivity, StreamEvent, ToolResultMessage
from tests.coordination.helpers import of_kind, run_team


class SearchingBackend(ScriptedBackend):
    """A scripted model whose provider runs a web search before each reply."""

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        yield ServerToolActivity("web_search", "what is 2+2")
        async for event in super().stream(request):
            yield event


async def test_server_tool_activity_is_forwarded_and_not_answered() -> None:
    backend = SearchingBackend([AnswerReply("4"), VoteReply("agent1", "right")])
    result, events = await run_team([Agent("solo", backend)])
    assert result.final_answer == "4"
    used = of_kind(events, ProviderToolUsed)
    assert used and used[0] == ProviderToolUsed("solo", "web_search", "what is 2+2")
    assert of_kind(events, AnswerSubmitted)
    # massmem never sends a tool result for a call the provider ran itself.
    for request in backend.requests:
        assert not [
            m for m in request.messages if isinstance(m, ToolResultMessage) and m.name == "web_search"
        ]
    assert describe(used[0]) == "[solo] provider ran web_search: what is 2+2"
