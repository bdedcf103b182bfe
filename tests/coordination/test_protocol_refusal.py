"""Servers that fail on ``tools`` or ``response_format``: ``auto`` agents step down, not out.

Many OpenAI-compatible servers answer a request carrying tools (or a JSON schema) with a
500 or a malformed stream.  Such a failure says nothing about the model's answer, so an
``auto`` agent retries with the next simpler protocol instead of dropping out.
"""

from __future__ import annotations

from massmem.agents import Agent
from massmem.backends.base import ModelRequest
from massmem.backends.scripted import FunctionBackend
from massmem.coordination import AgentRetry, Orchestrator
from massmem.errors import AuthenticationFailed, ProviderUnavailable
from tests.coordination.helpers import of_kind


def picky_server(*, refuse_json: bool) -> FunctionBackend:
    def answer(request: ModelRequest) -> str:
        if request.tools:
            raise ProviderUnavailable("server failed on its side (HTTP 500): 1 validation error")
        if refuse_json and request.response_format is not None:
            raise ProviderUnavailable("server failed on its side (HTTP 500): bad response_format")
        return "Four."

    return FunctionBackend(answer)


async def test_tools_refused_then_json_refused_still_reaches_an_answer() -> None:
    backends = [picky_server(refuse_json=True), picky_server(refuse_json=True)]
    agents = [Agent(f"a{i}", b) for i, b in enumerate(backends)]
    events: list = []
    result = await Orchestrator(agents).run("What is 2+2?", on_event=events.append)
    assert result.final_answer
    assert "Four" in result.winning_answer.content
    assert not result.failures
    steps = [e.protocol for e in of_kind(events, AgentRetry) if "stepping down" in e.reason]
    assert steps.count("json") == 2 and steps.count("text") == 2
    # Once stepped down, later calls of that agent never send tools again.
    for backend in backends:
        seen_tools = [bool(r.tools) for r in backend.requests]
        assert seen_tools[0] is True
        assert not any(seen_tools[1:])


async def test_tools_refused_but_json_works() -> None:
    backend = picky_server(refuse_json=False)
    result = await Orchestrator([Agent("solo", backend)]).run("What is 2+2?")
    assert "Four" in result.final_answer
    assert any(r.response_format is not None for r in backend.requests[1:])


async def test_auth_failures_are_not_mistaken_for_protocol_refusals() -> None:
    def answer(request: ModelRequest) -> str:
        raise AuthenticationFailed("bad key; set OPENAI_API_KEY")

    ok = Agent("ok", FunctionBackend(lambda r: "Four."), action_mode="text")
    bad = Agent("bad", FunctionBackend(answer))
    events: list = []
    result = await Orchestrator([ok, bad]).run("What is 2+2?", on_event=events.append)
    assert "bad" in result.failures
    assert len(bad.backend.requests) == 1  # type: ignore[attr-defined]
    assert not of_kind(events, AgentRetry)
