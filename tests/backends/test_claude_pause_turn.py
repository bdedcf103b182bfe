"""Claude's ``pause_turn``: a paused server-tool turn is continued, through the real SDK and the wire.

Anthropic may end a response that used server tools (web search, code execution) with
``stop_reason: "pause_turn"``.  The client is to send the same request again with the paused
assistant content appended exactly as it came; the model resumes from there.  The backend does
that itself, streams the continuation as the same answer, and stops after
:data:`~massmem.backends.claude.MAX_CONTINUATIONS` follow-ups.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from massmem.backends.base import ModelRequest, ToolSpec, collect
from massmem.backends.claude import MAX_CONTINUATIONS, ClaudeBackend, from_config, server_tool_definitions
from massmem.backends.retry import RetryingBackend, RetryPolicy, wrap
from massmem.config.schema import ClaudeBackendConfig
from massmem.errors import AuthenticationFailed, ProviderUnavailable, RateLimited
from massmem.messages import (
    Finished,
    ServerToolActivity,
    StreamEvent,
    TextDelta,
    ToolCall,
    Usage,
    UserMessage,
)
from tests.support import anthropic_protocol as ap
from tests.support.loopback import LoopbackServer

KEY = "sk-ant-SENTINEL-pause-0123456789"
MODEL = "claude-sonnet-4-6"
VOTE = ToolSpec(
    "vote", "Vote for an answer", {"type": "object", "properties": {"agent_id": {"type": "string"}}}
)
ASK = ModelRequest([UserMessage("When did massmem ship?")], tools=[VOTE])
WEB_SEARCH = {"type": "web_search_20250305", "name": "web_search"}

#: What :meth:`ap.MessageStream.web_search` sends, as the API wants it back.
SEARCH_BLOCKS = [
    {
        "type": "server_tool_use",
        "id": "srvtoolu_01",
        "name": "web_search",
        "input": {"query": "massmem release"},
    },
    {
        "type": "web_search_tool_result",
        "tool_use_id": "srvtoolu_01",
        "content": [
            {
                "type": "web_search_result",
                "url": "https://example.org/massmem",
                "title": "massmem",
                "encrypted_content": "EqgfCioIARgBIiQ3YTAw",
                "page_age": None,
            }
        ],
    },
]


class Sleeps:
    """A recording stand-in for ``asyncio.sleep``."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


Factory = Callable[..., ClaudeBackend]


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def make(loopback: LoopbackServer, sleeps: Sleeps) -> AsyncIterator[Factory]:
    built: list[ClaudeBackend] = []

    def factory(**options: Any) -> ClaudeBackend:
        options.setdefault("server_tools", server_tool_definitions(web_search=True, code_execution=False))
        backend = ClaudeBackend(
            model=MODEL,
            api_key=KEY,
            base_url=loopback.url,
            timeout=5.0,
            agent_id="agent-p",
            retry_policy=RetryPolicy(rng=lambda: 0.0),
            sleep=sleeps,
            **options,
        )
        built.append(backend)
        return backend

    yield factory
    for backend in built:
        await backend.aclose()


def paused(*texts: str, input_tokens: int = 30, output_tokens: int = 7) -> ap.MessageStream:
    stream = ap.MessageStream(input_tokens=input_tokens)
    for text in texts:
        stream.text(text)
    return stream.stop("pause_turn", output_tokens=output_tokens)


def with_container(stream: ap.MessageStream, container_id: str) -> ap.MessageStream:
    """Put ``delta.container`` in the stream's ``message_delta``, as Anthropic does after code execution."""
    for event in stream.events:
        if event.event == "message_delta":
            data = json.loads(event.data)
            data["delta"]["container"] = {"id": container_id, "expires_at": "2026-01-01T00:00:00Z"}
            event.data = json.dumps(data)
    return stream


async def run(backend: Any, request: ModelRequest = ASK) -> tuple[Any, list[StreamEvent]]:
    """The collected answer, and every event the stream yielded (the live view's and the rest)."""
    events: list[StreamEvent] = []

    async def recorded() -> AsyncIterator[StreamEvent]:
        async for event in backend.stream(request):
            events.append(event)
            yield event

    return await collect(recorded()), events


def bodies(loopback: LoopbackServer) -> list[dict[str, Any]]:
    return [r.json() for r in loopback.requests]


# -- continuing ---------------------------------------------------------------------------------


async def test_paused_turn_is_continued_with_the_paused_blocks_as_they_came(
    loopback: LoopbackServer, make: Factory
) -> None:
    loopback.push(
        ap.MessageStream(input_tokens=30, cache_read_input_tokens=4)
        .web_search("massmem release")
        .text("Found it. ")
        .stop("pause_turn", output_tokens=7)
        .reply(),
        ap.MessageStream(input_tokens=50)
        .text("It shipped ", "in 2026.")
        .stop("end_turn", output_tokens=5)
        .reply(),
    )
    seen: list[StreamEvent] = []
    done = await collect(make().stream(ASK), seen.append)

    assert done.text == "Found it. It shipped in 2026."
    assert done.finish_reason == "stop" and done.tool_calls == []
    # Both requests are billed: the usage is their sum.
    assert done.usage == Usage(input_tokens=84, output_tokens=12, cached_tokens=4)
    # The live view heard the search and every text delta, in order.
    assert seen == [
        ServerToolActivity("web_search", "massmem release"),
        TextDelta("Found it. "),
        TextDelta("It shipped "),
        TextDelta("in 2026."),
    ]

    first, second = bodies(loopback)
    assert second["messages"][:-1] == first["messages"]
    assert second["messages"][-1] == {
        "role": "assistant",
        "content": [*SEARCH_BLOCKS, {"type": "text", "text": "Found it. "}],
    }
    # The same request otherwise: server tools still offered after massmem's own function tools.
    assert {k: v for k, v in second.items() if k != "messages"} == {
        k: v for k, v in first.items() if k != "messages"
    }
    assert second["tools"][-1] == WEB_SEARCH and second["tools"][0]["name"] == "vote"
    assert second["stream"] is True


async def test_one_answer_has_one_usage_and_one_finish(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(paused("a").reply(), paused("b").reply(), ap.text_reply("c"))
    done, events = await run(make())
    assert done.text == "abc"
    assert [type(e) for e in events] == [TextDelta, TextDelta, TextDelta, Usage, Finished]
    assert events[-1] == Finished("stop")
    # The second follow-up carries both paused responses, in order, as one assistant turn.
    third = bodies(loopback)[2]["messages"]
    assert third[-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
    }
    assert [m["role"] for m in third] == ["user", "assistant"]


async def test_code_execution_blocks_thinking_and_container_go_back(
    loopback: LoopbackServer, make: Factory
) -> None:
    """Every block kind comes back as it came (signed thinking included); the container is named."""
    run_block = {"type": "server_tool_use", "id": "srvtoolu_X", "name": "bash_code_execution", "input": {}}
    result_block = {
        "type": "bash_code_execution_tool_result",
        "tool_use_id": "srvtoolu_X",
        "content": {
            "type": "bash_code_execution_result",
            "stdout": "42\n",
            "stderr": "",
            "return_code": 0,
            "content": [],
        },
    }
    first = ap.MessageStream().thinking("Compute ", "it.", signature="sig-pause")
    first._block(run_block, [{"type": "input_json_delta", "partial_json": '{"command": "echo 42"}'}])
    first._block(result_block, [])
    first.stop("pause_turn")
    loopback.push(with_container(first, "container_011").reply(), ap.text_reply("The answer is 42."))

    backend = make(
        thinking_budget=2048, server_tools=server_tool_definitions(web_search=False, code_execution=True)
    )
    done, events = await run(backend)
    assert done.text == "The answer is 42." and done.reasoning == "Compute it."
    assert ServerToolActivity("bash_code_execution", "echo 42") in events

    sent = bodies(loopback)[1]
    assert sent["container"] == "container_011"
    assert sent["messages"][-1]["content"] == [
        {"type": "thinking", "thinking": "Compute it.", "signature": "sig-pause"},
        {**run_block, "input": {"command": "echo 42"}},
        result_block,
    ]
    assert "container" not in bodies(loopback)[0]


async def test_client_tool_calls_are_never_server_blocks(loopback: LoopbackServer, make: Factory) -> None:
    """After a continuation, massmem's own ``vote`` call is a ToolCall; the search never is."""
    loopback.push(
        ap.MessageStream().web_search("massmem release").stop("pause_turn").reply(),
        ap.MessageStream()
        .text("Voting.")
        .tool_use("vote", {"agent_id": "b"}, tool_id="toolu_V")
        .stop("tool_use")
        .reply(),
    )
    done, events = await run(make())
    assert [(c.id, c.name, c.arguments) for c in done.tool_calls] == [("toolu_V", "vote", {"agent_id": "b"})]
    assert [e for e in events if isinstance(e, ToolCall)] == done.tool_calls
    assert done.finish_reason == "tool_calls"
    assert bodies(loopback)[1]["messages"][-1] == {"role": "assistant", "content": SEARCH_BLOCKS}


async def test_a_paused_response_with_a_client_tool_call_is_not_continued(
    loopback: LoopbackServer, make: Factory
) -> None:
    """Continuing would send a ``tool_use`` without its result: the call goes to massmem to answer."""
    loopback.push(
        ap.MessageStream()
        .web_search("q")
        .tool_use("vote", {"agent_id": "a"}, tool_id="toolu_P")
        .stop("pause_turn")
        .reply()
    )
    done, _ = await run(make())
    assert [c.id for c in done.tool_calls] == ["toolu_P"]
    assert done.finish_reason == "tool_calls"
    assert len(loopback.requests) == 1


# -- the bound ----------------------------------------------------------------------------------


async def test_endless_pause_stops_after_the_bound(loopback: LoopbackServer, make: Factory) -> None:
    loopback.responder = lambda _request: paused("x", input_tokens=10, output_tokens=1).reply()
    backend = make()
    done, events = await run(backend)

    assert len(loopback.requests) == 1 + MAX_CONTINUATIONS
    assert backend.continuations == MAX_CONTINUATIONS
    assert done.text == "x" * (1 + MAX_CONTINUATIONS)
    # Cut short by a limit, and the live view says why.
    assert done.finish_reason == "length"
    notices = [e for e in events if isinstance(e, ServerToolActivity) and e.tool == "pause_turn"]
    assert len(notices) == 1
    assert f"after {MAX_CONTINUATIONS} continuations" in notices[0].detail
    assert "incomplete" in notices[0].detail
    assert events[-2:] == [Usage(input_tokens=60, output_tokens=6), Finished("length")]
    last = bodies(loopback)[-1]["messages"][-1]
    assert last["content"] == [{"type": "text", "text": "x"}] * MAX_CONTINUATIONS


async def test_the_bound_is_per_answer(loopback: LoopbackServer, make: Factory) -> None:
    backend = make()
    loopback.push(paused("a").reply(), ap.text_reply("b"), paused("c").reply(), ap.text_reply("d"))
    assert (await collect(backend.stream(ASK))).text == "ab"
    assert (await collect(backend.stream(ASK))).text == "cd"
    # The second answer's follow-up starts from its own request, not the first answer's pause.
    assert bodies(loopback)[3]["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "c"}],
    }


# -- faults on the follow-up --------------------------------------------------------------------


async def test_retryable_fault_on_the_continuation_is_retried(
    loopback: LoopbackServer, make: Factory, sleeps: Sleeps
) -> None:
    loopback.push(paused("Half ").reply(), ap.overloaded_error(), ap.text_reply("whole."))
    backend = make(max_retries=2)
    done, events = await run(backend)
    assert done.text == "Half whole." and done.finish_reason == "stop"
    assert backend.continuation_retries == 1 and len(sleeps.waits) == 1
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("Half "), TextDelta("whole.")]
    second, third = bodies(loopback)[1:]
    assert third == second  # the same follow-up again


async def test_rate_limit_on_the_continuation_waits_as_asked_then_gives_up(
    loopback: LoopbackServer, make: Factory, sleeps: Sleeps
) -> None:
    loopback.push(paused("Half ").reply(), ap.rate_limit_error("2"), ap.rate_limit_error("2"))
    backend = make(max_retries=1)
    with pytest.raises(RateLimited) as info:
        await run(backend)
    assert info.value.retry_after == 2.0 and sleeps.waits == [2.0]
    assert len(loopback.requests) == 3
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert f"continuation 1 of {MAX_CONTINUATIONS}" in notes and "after 2 attempts" in notes
    assert KEY not in str(info.value) + notes


async def test_non_retryable_fault_on_the_continuation_is_mapped_not_retried(
    loopback: LoopbackServer, make: Factory, sleeps: Sleeps
) -> None:
    loopback.push(paused("Half ").reply(), ap.auth_error())
    with pytest.raises(AuthenticationFailed):
        await run(make(max_retries=3))
    assert len(loopback.requests) == 2 and sleeps.waits == []


async def test_fault_after_the_continuation_streamed_text_is_not_retried(
    loopback: LoopbackServer, make: Factory, sleeps: Sleeps
) -> None:
    """The wrapper's rule, per request: a follow-up that already showed text is never restarted."""
    loopback.push(paused("Half ").reply(), ap.MessageStream().text("more").error().reply())
    with pytest.raises(ProviderUnavailable):
        await run(make(max_retries=3))
    assert len(loopback.requests) == 2 and sleeps.waits == []


async def test_dropped_continuation_is_unavailable_and_retried(
    loopback: LoopbackServer, make: Factory, sleeps: Sleeps
) -> None:
    """A follow-up whose connection drops before any text: unavailable, so tried again."""
    loopback.push(paused("Half ").reply(), paused("lost").reply(drop_after=1), ap.text_reply("whole."))
    done, _ = await run(make(max_retries=1))
    assert done.text == "Half whole." and len(sleeps.waits) == 1


async def test_behind_the_retry_wrapper_both_requests_are_retried(
    loopback: LoopbackServer, sleeps: Sleeps
) -> None:
    """As an agent builds it (``wrap`` over the config): the first request's fault is the wrapper's,
    the follow-up's is the backend's, each retried once with the same policy."""
    config = ClaudeBackendConfig(
        type="claude",
        model=MODEL,
        api_key=SecretStr(KEY),
        base_url=loopback.url,
        timeout=5.0,
        max_retries=2,
        enable_web_search=True,
    )
    inner = from_config(config, agent_id="agent-w")
    assert inner.max_retries == 2  # the config's retries reach the follow-up too
    inner._sleep = sleeps
    backend = wrap(inner, config, sleep=sleeps, policy=RetryPolicy(rng=lambda: 0.0))
    assert isinstance(backend, RetryingBackend)
    loopback.push(ap.server_error(), paused("Half ").reply(), ap.unavailable_error(), ap.text_reply("whole."))
    try:
        done, _ = await run(backend)
    finally:
        await backend.aclose()
    assert done.text == "Half whole."
    assert backend.retries == 1 and inner.continuation_retries == 1 and len(sleeps.waits) == 2
    assert len(loopback.requests) == 4
    assert bodies(loopback)[3]["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "Half "}],
    }
