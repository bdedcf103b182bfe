"""Anthropic's Messages API (``type: claude``) through ``anthropic.AsyncAnthropic``.

Claude differs from the OpenAI shapes in ways that matter here: the system
prompt is a request parameter, tool calls are ``tool_use`` content blocks
whose input streams as JSON fragments, tool results go back inside a *user*
message, extended thinking streams as ``thinking_delta`` blocks that must be
handed back (signed) when the model continues after a tool call, and usage is
split between ``message_start`` (input) and ``message_delta`` (output).
Errors can arrive as an ``event: error`` in the middle of a 200 stream.

With server tools (web search, code execution) Anthropic may end a response
with ``stop_reason: "pause_turn"``: it paused a long server-side loop and
expects the same request back with the paused assistant content appended.
:class:`ClaudeBackend` does that itself, up to :data:`MAX_CONTINUATIONS`
times, and streams the continuation as part of the same answer.

Every ``anthropic`` exception — and the raw ``httpx2`` errors the SDK lets
through while a stream is being read — is translated into
:mod:`massmem.errors` here.  The SDK is imported lazily and its own retries are
off: :mod:`massmem.backends.retry` owns retrying (only a paused turn's follow-up,
which that wrapper cannot restart once text was shown, is retried here, by its
rule and policy).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from massmem.backends.base import Capabilities, ModelRequest
from massmem.backends.faults import (
    Fault,
    detect_context_overflow,
    fault_for_status,
    is_timeout,
    is_transport_error,
    retry_after_from,
)
from massmem.backends.retry import RetryPolicy, Sleep
from massmem.backends.sdk_backend import SDK_RETRIES, SdkBackend
from massmem.backends.sdk_backend import resolve_key as _resolve_key
from massmem.errors import (
    AuthenticationFailed,
    BackendError,
    ContextLengthExceeded,
    InvalidResponse,
    ProviderUnavailable,
    RateLimited,
)
from massmem.messages import (
    AssistantMessage,
    Finished,
    FinishReason,
    Message,
    ReasoningDelta,
    ServerToolActivity,
    StreamEvent,
    SystemMessage,
    TextDelta,
    ToolCall,
    ToolResultMessage,
    Usage,
    UserMessage,
)

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic

    from massmem.config.schema import ClaudeBackendConfig

__all__ = [
    "KEY_ENV",
    "MAX_CONTINUATIONS",
    "ClaudeBackend",
    "ClaudeTranslator",
    "build_params",
    "context_window_for",
    "from_config",
    "resolve_key",
    "translate_exception",
]

PROVIDER = "claude"
KEY_ENV = "ANTHROPIC_API_KEY"
DEFAULT_BASE_URL = "https://api.anthropic.com"
#: Output budget when neither the request nor the config sets one (the Messages API requires it).
DEFAULT_MAX_TOKENS = 8192
#: Thinking blocks remembered per backend, keyed by the tool_use id they preceded.
_THINKING_MEMORY = 512
#: Follow-up requests sent for one answer whose turn Anthropic paused (``pause_turn``).
MAX_CONTINUATIONS = 5

_CONTEXT_WINDOWS: tuple[tuple[str, int], ...] = (("claude-", 200_000),)

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    # Only seen when the backend stops continuing (MAX_CONTINUATIONS): the answer was cut short.
    "pause_turn": "length",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}


def context_window_for(model: str) -> int | None:
    name = model.lower()
    for prefix, window in _CONTEXT_WINDOWS:
        if name.startswith(prefix):
            return window
    return None


# --------------------------------------------------------------------------------- request


def _merge(turns: list[tuple[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Join consecutive same-role turns; in a user turn, tool results go first as Claude requires."""
    merged: list[dict[str, Any]] = []
    for role, blocks in turns:
        if not blocks:
            continue
        if merged and merged[-1]["role"] == role:
            merged[-1]["content"].extend(blocks)
        else:
            merged.append({"role": role, "content": list(blocks)})
    for message in merged:
        if message["role"] == "user":
            message["content"].sort(key=lambda block: 0 if block.get("type") == "tool_result" else 1)
    return merged


def _messages(
    messages: Iterable[Message], thinking: Mapping[str, list[dict[str, Any]]] | None = None
) -> tuple[str | None, list[dict[str, Any]]]:
    """(system, messages) for the Messages API.

    Every system message goes to the ``system`` parameter, in order: Claude
    has no system role inside ``messages``.  ``thinking`` maps a tool_use id to
    the signed thinking blocks that came before it, which Claude needs back
    when it continues after the tool result.
    """
    system: list[str] = []
    turns: list[tuple[str, list[dict[str, Any]]]] = []
    for message in messages:
        match message:
            case SystemMessage(content=text):
                if text:
                    system.append(text)
            case UserMessage(content=text):
                turns.append(("user", [{"type": "text", "text": text}] if text else []))
            case AssistantMessage(content=text, tool_calls=calls):
                blocks: list[dict[str, Any]] = []
                if thinking and calls and calls[0].id in thinking:
                    blocks.extend(thinking[calls[0].id])
                if text:
                    blocks.append({"type": "text", "text": text})
                for call in calls:
                    blocks.append(
                        {"type": "tool_use", "id": call.id, "name": call.name, "input": dict(call.arguments)}
                    )
                turns.append(("assistant", blocks))
            case ToolResultMessage(tool_call_id=call_id, content=text):
                turns.append(("user", [{"type": "tool_result", "tool_use_id": call_id, "content": text}]))
    return ("\n\n".join(system) or None), _merge(turns)


def build_params(
    request: ModelRequest,
    *,
    model: str,
    max_tokens: int | None = None,
    thinking_budget: int | None = None,
    thinking: Mapping[str, list[dict[str, Any]]] | None = None,
    server_tools: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The keyword arguments for ``messages.create`` (without ``stream``).

    ``server_tools`` are Anthropic's server tool definitions (web search, code
    execution), sent as they are after the function tools: Anthropic runs them.
    """
    system, messages = _messages(request.messages, thinking)
    limit = request.max_tokens or max_tokens or DEFAULT_MAX_TOKENS
    if thinking_budget:
        # The budget must stay below max_tokens, or the API refuses the request.
        limit = max(limit, thinking_budget + 1024)
    params: dict[str, Any] = {"model": model, "max_tokens": limit, "messages": messages}
    if system:
        params["system"] = system
    if request.tools:
        params["tools"] = [
            {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}
            for tool in request.tools
        ]
        choice = {"auto": "auto", "required": "any", "none": "none"}[request.tool_choice]
        if thinking_budget and choice == "any":
            choice = "auto"  # forced tool use is not allowed together with extended thinking
        params["tool_choice"] = {"type": choice}
    if server_tools:
        params["tools"] = [*params.get("tools", []), *(dict(t) for t in server_tools)]
    if request.response_format is not None:
        params["output_config"] = {
            "format": {"type": "json_schema", "schema": request.response_format.schema}
        }
    if thinking_budget:
        params["thinking"] = {"type": "enabled", "budget_tokens": thinking_budget}
    # No ``temperature``: the Messages API of anthropic 2.x has no sampling parameters, so a
    # configured temperature is accepted in the YAML (it is shared by every backend type) and ignored.
    return params


# --------------------------------------------------------------------------------- errors


def _error_fields(body: object) -> tuple[str | None, str | None]:
    """(type, message) from an Anthropic error body ``{"type": "error", "error": {...}}``."""
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            kind, message = inner.get("type"), inner.get("message")
            return (str(kind) if kind else None, str(message) if message else None)
    return None, None


def _classify(
    message: str,
    *,
    status: int | None,
    error_type: str | None,
    headers: Mapping[str, str] | None = None,
    agent_id: str | None = None,
) -> BackendError:
    """One Anthropic error — an HTTP status or an ``error`` event's type — as a massmem error.

    Mid-stream errors come with the stream's status (200), so the error
    *type* decides first and the status (read with the shared table; Anthropic's
    SDK retries 409, so a conflict is transient) only when the type says nothing.
    """
    fault = fault_for_status(status, conflict_is_transient=True)
    overflow = detect_context_overflow(message)
    if (
        overflow is not None
        and error_type in (None, "invalid_request_error")
        and (status is None or status < 500)
    ):
        return ContextLengthExceeded(
            f"Claude: the request does not fit the model's context window: {message}",
            requested_tokens=overflow.requested_tokens,
            allowed_tokens=overflow.allowed_tokens,
            provider=PROVIDER,
            agent_id=agent_id,
        )
    if error_type in {"authentication_error", "permission_error"} or fault is Fault.AUTH:
        return AuthenticationFailed(
            f"Anthropic rejected the API key ({error_type or f'HTTP {status}'}). Set {KEY_ENV} "
            "(or api_key in the backend config) to a valid key with access to this model.",
            provider=PROVIDER,
            agent_id=agent_id,
        )
    if error_type == "rate_limit_error" or fault is Fault.RATE_LIMIT:
        return RateLimited(
            f"Anthropic rate limit: {message}",
            retry_after=retry_after_from(headers),
            provider=PROVIDER,
            agent_id=agent_id,
        )
    if error_type in {"overloaded_error", "api_error", "timeout_error"} or fault is Fault.UNAVAILABLE:
        label = error_type or f"HTTP {status}"
        return ProviderUnavailable(
            f"Anthropic failed on its side ({label}): {message}", provider=PROVIDER, agent_id=agent_id
        )
    label = ", ".join(
        part for part in (f"HTTP {status}" if status and status != 200 else None, error_type) if part
    )
    return BackendError(
        f"Anthropic refused the request ({label or 'error'}): {message}", provider=PROVIDER, agent_id=agent_id
    )


def translate_exception(
    exc: BaseException, *, agent_id: str | None = None, timeout: float | None = None
) -> BackendError:
    """Map an ``anthropic`` (or raw transport) exception to :mod:`massmem.errors`."""
    import anthropic

    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, anthropic.APITimeoutError) or is_timeout(exc):
        limit = f" after {timeout:g}s" if timeout else ""
        return ProviderUnavailable(
            f"Anthropic did not answer in time{limit}", provider=PROVIDER, agent_id=agent_id
        )
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderUnavailable(
            "Anthropic connection failed or was dropped", provider=PROVIDER, agent_id=agent_id
        )
    if isinstance(exc, anthropic.APIStatusError):
        error_type, message = _error_fields(exc.body)
        return _classify(
            message or str(exc.message),
            status=exc.status_code,
            error_type=error_type or (str(exc.type) if getattr(exc, "type", None) else None),
            headers=exc.response.headers,
            agent_id=agent_id,
        )
    if isinstance(exc, anthropic.APIResponseValidationError):
        return InvalidResponse(
            f"Anthropic sent data massmem cannot read: {exc.message}", provider=PROVIDER, agent_id=agent_id
        )
    if isinstance(exc, json.JSONDecodeError):
        return InvalidResponse(
            f"Anthropic sent an event that is not JSON: {exc.msg}", provider=PROVIDER, agent_id=agent_id
        )
    if isinstance(exc, anthropic.AnthropicError):
        return BackendError(f"Anthropic client error: {exc}", provider=PROVIDER, agent_id=agent_id)
    if is_transport_error(exc):
        return ProviderUnavailable(
            f"Anthropic connection failed or was dropped ({type(exc).__name__})",
            provider=PROVIDER,
            agent_id=agent_id,
        )
    # Anything else the SDK raised (a ValueError from its request building, say) is still
    # not allowed past the boundary; its type name stays in the message for whoever debugs it.
    return BackendError(
        f"Anthropic client error: {type(exc).__name__}: {exc}", provider=PROVIDER, agent_id=agent_id
    )


# --------------------------------------------------------------------------------- stream


@dataclass
class _Block:
    kind: str
    tool_id: str = ""
    name: str = ""
    fragments: list[str] = field(default_factory=list)
    initial_input: dict[str, Any] = field(default_factory=dict)
    thinking: list[str] = field(default_factory=list)
    signature: str = ""
    data: str = ""
    #: the block as the wire sent it (``content_block_start``), completed by its deltas at stop
    raw: dict[str, Any] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)
    citations: list[Any] = field(default_factory=list)


class ClaudeTranslator:
    """Turns Messages stream events into massmem events.

    Tool calls are emitted when their block stops (whole, never partial).
    Signed thinking blocks are kept in :attr:`thinking_blocks` so the backend
    can hand them back with the tool results.  Every block is also kept whole,
    in the wire shape the API takes back (:meth:`content`), for continuing a
    paused turn.  A stream without ``message_stop`` was cut off and is
    reported as :class:`ProviderUnavailable`.
    """

    def __init__(self, agent_id: str | None = None) -> None:
        self.agent_id = agent_id
        self.blocks: dict[int, _Block] = {}
        self.thinking_blocks: list[dict[str, Any]] = []
        self.tool_ids: list[str] = []
        self.input_tokens = 0
        self.cached_tokens = 0
        self.output_tokens = 0
        self.reasoning_tokens = 0
        self.stop_reason: str | None = None
        #: the code-execution container the response ran in (a continuation must name it)
        self.container_id: str | None = None
        self.stopped = False

    def feed(self, event: Any) -> list[StreamEvent]:
        match getattr(event, "type", None):
            case "message_start":
                self._input_usage(getattr(getattr(event, "message", None), "usage", None))
            case "content_block_start":
                self._start(int(getattr(event, "index", 0)), getattr(event, "content_block", None))
            case "content_block_delta":
                return self._delta(int(getattr(event, "index", 0)), getattr(event, "delta", None))
            case "content_block_stop":
                return self._stop(int(getattr(event, "index", 0)))
            case "message_delta":
                self._message_delta(event)
            case "message_stop":
                self.stopped = True
        return []

    def _message_delta(self, event: Any) -> None:
        """The stop reason and the cumulative output count (which replaces, never adds to, the last)."""
        delta = getattr(event, "delta", None)
        self.stop_reason = getattr(delta, "stop_reason", None) or self.stop_reason
        container = getattr(getattr(delta, "container", None), "id", None)
        if container:
            self.container_id = str(container)
        usage: Any = getattr(event, "usage", None)
        self._input_usage(usage, only_if_present=True)
        output = getattr(usage, "output_tokens", None)
        if output is not None:
            self.output_tokens = int(output)
        thinking = getattr(getattr(usage, "output_tokens_details", None), "thinking_tokens", None)
        if thinking is not None:
            self.reasoning_tokens = int(thinking)

    def _input_usage(self, usage: Any, *, only_if_present: bool = False) -> None:
        if usage is None:
            return
        fresh = getattr(usage, "input_tokens", None)
        if only_if_present and fresh is None:
            return
        created = getattr(usage, "cache_creation_input_tokens", None) or 0
        read = getattr(usage, "cache_read_input_tokens", None) or 0
        # Claude counts cached prompt tokens apart from input_tokens; massmem wants the whole prompt.
        self.input_tokens = int(fresh or 0) + int(created) + int(read)
        self.cached_tokens = int(read)
        if not only_if_present and getattr(usage, "output_tokens", None) is not None:
            self.output_tokens = int(usage.output_tokens)

    def _start(self, index: int, block: Any) -> None:
        kind = str(getattr(block, "type", "") or "")
        item = _Block(kind=kind, raw=_wire_dict(block))
        if kind == "tool_use":
            item.tool_id = str(getattr(block, "id", "") or f"toolu_{index}")
            item.name = str(getattr(block, "name", "") or "")
            raw_input = getattr(block, "input", None)
            item.initial_input = dict(raw_input) if isinstance(raw_input, Mapping) else {}
        elif kind == "server_tool_use":
            item.name = str(getattr(block, "name", "") or "")
            raw_input = getattr(block, "input", None)
            item.initial_input = dict(raw_input) if isinstance(raw_input, Mapping) else {}
        elif kind == "redacted_thinking":
            item.data = str(getattr(block, "data", "") or "")
        self.blocks[index] = item

    def _delta(self, index: int, delta: Any) -> list[StreamEvent]:
        block = self.blocks.setdefault(index, _Block(kind="text"))
        match getattr(delta, "type", None):
            case "text_delta":
                text = getattr(delta, "text", "") or ""
                block.text.append(text)
                return [TextDelta(text)] if text else []
            case "citations_delta":
                citation = getattr(delta, "citation", None)
                if citation is not None:
                    block.citations.append(_wire_dict(citation))
            case "thinking_delta":
                text = getattr(delta, "thinking", "") or ""
                block.thinking.append(text)
                return [ReasoningDelta(text)] if text else []
            case "signature_delta":
                block.signature = getattr(delta, "signature", "") or ""
            case "input_json_delta":
                block.fragments.append(getattr(delta, "partial_json", "") or "")
        return []

    def _stop(self, index: int) -> list[StreamEvent]:
        block = self.blocks.get(index)
        if block is None:
            return []
        if block.kind == "thinking":
            self.thinking_blocks.append(
                {"type": "thinking", "thinking": "".join(block.thinking), "signature": block.signature}
            )
        elif block.kind == "redacted_thinking":
            self.thinking_blocks.append({"type": "redacted_thinking", "data": block.data})
        elif block.kind == "tool_use":
            raw = "".join(block.fragments)
            if not raw.strip() and block.initial_input:
                raw = json.dumps(block.initial_input)
            self.tool_ids.append(block.tool_id)
            return [ToolCall.from_raw(block.tool_id, block.name, raw)]
        elif block.kind == "server_tool_use":
            # Anthropic runs it and streams its result block itself: show it, never answer it.
            return [_server_activity(block)]
        return []

    def content(self) -> list[dict[str, Any]]:
        """The response's content blocks, in order, as the Messages API takes them back.

        Each block is what ``content_block_start`` carried with its deltas applied (text,
        citations, thinking and signature, tool input): server tool blocks and their result
        blocks go back exactly as received.  Empty text blocks are left out (the API refuses them).
        """
        blocks: list[dict[str, Any]] = []
        for _, block in sorted(self.blocks.items()):
            wire = _completed(block)
            if wire.get("type") == "text" and not wire.get("text"):
                continue
            if wire:
                blocks.append(wire)
        return blocks

    @property
    def paused(self) -> bool:
        """Anthropic paused the turn (``pause_turn``) and nothing here waits for massmem's answer."""
        return self.stop_reason == "pause_turn" and not self.tool_ids

    def close(self) -> list[StreamEvent]:
        if not self.stopped:
            raise ProviderUnavailable(
                "Anthropic's stream ended before message_stop (connection closed early)",
                provider=PROVIDER,
                agent_id=self.agent_id,
            )
        reason = _FINISH.get(self.stop_reason or "end_turn", "other")
        if self.tool_ids and (reason == "stop" or self.stop_reason == "pause_turn"):
            reason = "tool_calls"  # massmem's own tool calls wait for their results first
        usage = Usage(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            reasoning_tokens=self.reasoning_tokens,
            cached_tokens=self.cached_tokens,
        )
        return [usage, Finished(reason)]


def _wire_dict(obj: Any) -> dict[str, Any]:
    """An SDK model (or a mapping) as the JSON object the wire carried, unset fields left out."""
    if isinstance(obj, Mapping):
        return json.loads(json.dumps(obj, default=str))
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict(mode="json"))
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        return dict(dump(mode="json", exclude_unset=True))
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")} if hasattr(obj, "__dict__") else {}


def _completed(block: _Block) -> dict[str, Any]:
    """One block's wire dict with its streamed deltas applied."""
    wire = dict(block.raw) or {"type": block.kind}
    if block.kind == "text":
        wire["text"] = str(wire.get("text") or "") + "".join(block.text)
        if block.citations:
            wire["citations"] = [*(wire.get("citations") or []), *block.citations]
    elif block.kind == "thinking":
        wire["thinking"] = str(wire.get("thinking") or "") + "".join(block.thinking)
        if block.signature:
            wire["signature"] = block.signature
    elif block.fragments and "".join(block.fragments).strip():
        # tool_use / server_tool_use: the input arrived as JSON fragments
        with contextlib.suppress(ValueError):
            wire["input"] = json.loads("".join(block.fragments))
    return wire


def _with_paused(messages: list[dict[str, Any]], paused: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` plus the paused assistant content as one assistant turn (joined to a last
    assistant turn, since the API would merge consecutive same-role turns anyway)."""
    if not paused:
        return list(messages)
    if messages and messages[-1].get("role") == "assistant":
        last = messages[-1]
        return [*messages[:-1], {**last, "content": [*last["content"], *paused]}]
    return [*messages, {"role": "assistant", "content": list(paused)}]


def _server_activity(block: _Block) -> ServerToolActivity:
    """A finished ``server_tool_use`` block as a line for the live view (its query or command)."""
    try:
        arguments = json.loads("".join(block.fragments)) if "".join(block.fragments).strip() else {}
    except ValueError:
        arguments = {}
    if not isinstance(arguments, dict) or not arguments:
        arguments = block.initial_input
    detail = next((str(arguments[k]) for k in ("query", "command", "code") if arguments.get(k)), "")
    return ServerToolActivity(block.name or "server_tool", detail.strip()[:200])


def server_tool_definitions(*, web_search: bool, code_execution: bool) -> list[dict[str, Any]]:
    """Anthropic's server tool definitions for the switches that are on.

    Both are generally available in the Messages API of anthropic 2.x (the SDK lists them
    in ``ToolUnionParam`` outside ``beta``), so no ``anthropic-beta`` header is sent.
    """
    tools: list[dict[str, Any]] = []
    if web_search:
        tools.append({"type": "web_search_20250305", "name": "web_search"})
    if code_execution:
        tools.append({"type": "code_execution_20250825", "name": "code_execution"})
    return tools


# --------------------------------------------------------------------------------- backend


class ClaudeBackend(SdkBackend["AsyncAnthropic"]):
    """A Claude model behind Anthropic's Messages API."""

    type_name = "claude"
    LABEL = "Claude"
    KEY_ENVS = (KEY_ENV,)
    DEFAULT_BASE_URL = DEFAULT_BASE_URL

    def __init__(
        self,
        *,
        model: str,
        api_key: str | None,
        base_url: str | None = None,
        timeout: float = 600.0,
        max_tokens: int | None = None,
        thinking_budget: int | None = None,
        context_window: int | None = None,
        agent_id: str | None = None,
        server_tools: Sequence[dict[str, Any]] = (),
        max_retries: int = 0,
        retry_policy: RetryPolicy | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        super().__init__(
            model=model,
            capabilities=Capabilities(
                tool_calling=True,
                json_schema=True,
                reasoning=thinking_budget is not None,
                system_prompt="parameter",
                context_window=context_window or context_window_for(model),
            ),
            api_key=api_key or None,
            base_url=base_url or DEFAULT_BASE_URL,
            timeout=timeout,
            agent_id=agent_id,
        )
        self.max_tokens = max_tokens
        self.thinking_budget = thinking_budget
        self.server_tools = list(server_tools)
        # tool_use id -> the signed thinking blocks that preceded it, for the next request.
        self._thinking: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        #: Retries of a *continuation* request (a paused turn's follow-up): the retry wrapper
        #: never restarts a stream that already yielded, so this backend retries the follow-up
        #: itself, by the same rule (only while the follow-up has yielded nothing) and policy.
        self.max_retries = max(0, max_retries)
        self.retry_policy = retry_policy or RetryPolicy()
        self._sleep: Sleep = sleep or asyncio.sleep
        #: Continuation requests sent and continuation retries made so far (metering, tests).
        self.continuations = 0
        self.continuation_retries = 0

    def _new_client(self) -> AsyncAnthropic:
        from anthropic import AsyncAnthropic

        return AsyncAnthropic(
            api_key=self._api_key, base_url=self.base_url, max_retries=SDK_RETRIES, timeout=self.timeout
        )

    def params(self, request: ModelRequest) -> dict[str, Any]:
        return build_params(
            request,
            model=self.model,
            max_tokens=self.max_tokens,
            thinking_budget=self.thinking_budget,
            thinking=self._thinking,
            server_tools=self.server_tools,
        )

    def _remember_thinking(self, thinking: list[dict[str, Any]], tool_ids: list[str]) -> None:
        if not (thinking and tool_ids):
            return
        self._thinking[tool_ids[0]] = list(thinking)
        while len(self._thinking) > _THINKING_MEMORY:
            self._thinking.popitem(last=False)

    async def _events(
        self, client: AsyncAnthropic, request: ModelRequest
    ) -> AsyncGenerator[StreamEvent, None]:
        """One answer: the request, then a follow-up for each ``pause_turn``.

        A follow-up is the first request's params with every paused response's content
        appended, as it came, as the assistant's turn (which the model resumes), and the
        code-execution container named if one was used.  At most :data:`MAX_CONTINUATIONS`
        are sent; the events of all of them make one answer, with one summed usage and
        one finish.
        """
        params = self.params(request)
        paused: list[dict[str, Any]] = []  # every paused response's blocks so far, in order
        usage = Usage()
        thinking: list[dict[str, Any]] = []
        tool_ids: list[str] = []
        closing: list[StreamEvent] = []
        for round_ in range(MAX_CONTINUATIONS + 1):
            if round_:
                self.continuations += 1
            call = {**params, "messages": _with_paused(params["messages"], paused)} if round_ else params
            attempt = 0
            while True:
                translator = ClaudeTranslator(self.agent_id)
                yielded = False
                try:
                    async with contextlib.aclosing(self._segment(client, call, translator)) as events:
                        async for out in events:
                            yielded = True
                            yield out
                    closing = translator.close()
                    break
                except Exception as exc:
                    if not round_:
                        raise  # the first request: the boundary translates, the retry wrapper retries
                    delay = self._continuation_retry(exc, round_, attempt, yielded)
                    attempt += 1
                await self._sleep(delay)
            usage = usage + next((e for e in closing if isinstance(e, Usage)), None)
            thinking += translator.thinking_blocks
            tool_ids += translator.tool_ids
            if not translator.paused:
                break
            paused += translator.content()
            if translator.container_id:
                params = {**params, "container": translator.container_id}
        else:
            # Still paused after every follow-up: end here, cut short, and say so in the live view.
            yield ServerToolActivity(
                "pause_turn",
                f"Anthropic paused the turn again after {MAX_CONTINUATIONS} continuations; "
                "the answer may be incomplete",
            )
        self._remember_thinking(thinking, tool_ids)
        yield usage
        yield next((e for e in closing if isinstance(e, Finished)), Finished("other"))

    def _continuation_retry(self, exc: Exception, round_: int, attempt: int, yielded: bool) -> float:
        """The wait before retrying a failed follow-up, or its translated error raised.

        A follow-up's fault is translated like the first request's and retried by the retry
        wrapper's rule and policy: a retryable error before *this* request yielded anything, up
        to :attr:`max_retries` times.  The wrapper itself cannot do it: text from the earlier
        rounds has already reached the user, and it never restarts a stream that yielded.
        """
        error = self.translate(exc)
        if yielded or not error.retryable or attempt >= self.max_retries:
            tries = f" after {attempt + 1} attempts" if attempt and not yielded else ""
            error.add_note(
                f"on continuation {round_} of {MAX_CONTINUATIONS} of a turn Anthropic paused{tries}"
            )
            raise error from None
        self.continuation_retries += 1
        return self.retry_policy.delay(attempt, error)

    async def _segment(
        self, client: AsyncAnthropic, params: dict[str, Any], translator: ClaudeTranslator
    ) -> AsyncGenerator[StreamEvent, None]:
        """One request's events until its stream ends (its usage and finish stay in ``translator``)."""
        sdk_stream = await client.messages.create(**params, stream=True)
        async with sdk_stream:
            async for event in sdk_stream:
                for out in translator.feed(event):
                    yield out

    def translate(self, exc: BaseException) -> BackendError:
        return translate_exception(exc, agent_id=self.agent_id, timeout=self.timeout)


def from_config(config: ClaudeBackendConfig, **context: Any) -> ClaudeBackend:
    """Registry factory for ``type: claude``; ``context`` may carry ``agent_id``."""
    return ClaudeBackend(
        model=config.model,
        api_key=resolve_key(config),
        base_url=config.base_url,
        timeout=config.timeout,
        max_tokens=config.max_tokens,
        thinking_budget=config.thinking_budget,
        context_window=config.context_window,
        agent_id=context.get("agent_id"),
        server_tools=server_tool_definitions(
            web_search=config.enable_web_search, code_execution=config.enable_code_execution
        ),
        max_retries=config.max_retries,
    )


def resolve_key(config: ClaudeBackendConfig) -> str | None:
    """The configured key, else the provider's environment variable (official endpoint only)."""
    return _resolve_key(config, (KEY_ENV,), DEFAULT_BASE_URL)
