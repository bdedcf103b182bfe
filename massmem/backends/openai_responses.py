"""OpenAI's Responses API (``type: openai``) through ``AsyncOpenAI().responses.create(stream=True)``.

The Responses API is OpenAI's native protocol for its own models: reasoning
summaries, function calls as output items, and ``instructions`` as a request
field.  This module turns massmem's :class:`ModelRequest` into a Responses
request, the streamed events back into massmem's :mod:`stream events
<massmem.messages>`, and every ``openai`` exception into :mod:`massmem.errors`
before it can leave the module.

The SDK is imported only when a request is made, so configuring an ``openai``
backend costs nothing at start-up; the SDK's own retries are switched off
(``max_retries=0``) because retries are a wrapper backend
(:mod:`massmem.backends.retry`) that knows not to repeat streamed text.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from massmem.backends.base import Capabilities, ModelRequest
from massmem.backends.faults import (
    Fault,
    detect_context_overflow,
    fault_for_status,
    is_transport_error,
    retry_after_from,
)
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
    from openai import AsyncOpenAI

    from massmem.config.schema import OpenAIBackendConfig

__all__ = [
    "KEY_ENV",
    "OpenAIResponsesBackend",
    "build_params",
    "context_window_for",
    "from_config",
    "is_reasoning_model",
    "resolve_key",
    "translate_exception",
]

PROVIDER = "openai"
KEY_ENV = "OPENAI_API_KEY"
DEFAULT_BASE_URL = "https://api.openai.com/v1"

ReasoningEffort = Literal["minimal", "low", "medium", "high"]
ReasoningSummary = Literal["auto", "concise", "detailed"]

# Known context windows, longest prefix first; a config's ``context_window`` wins over this table.
_CONTEXT_WINDOWS: tuple[tuple[str, int], ...] = (
    ("gpt-5", 400_000),
    ("gpt-4.1", 1_047_576),
    ("gpt-4o", 128_000),
    ("gpt-4-turbo", 128_000),
    ("o4-mini", 200_000),
    ("o3", 200_000),
    ("o1", 200_000),
    ("gpt-oss", 131_072),
)

# Model families that reason before answering (and reject ``temperature``).
_REASONING_PREFIXES = ("gpt-5", "o1", "o3", "o4", "gpt-oss")


def context_window_for(model: str) -> int | None:
    """The window of a known model family, or None when the model is not in the table."""
    name = model.lower().rsplit("/", 1)[-1]
    for prefix, window in _CONTEXT_WINDOWS:
        if name.startswith(prefix):
            return window
    return None


def is_reasoning_model(model: str) -> bool:
    name = model.lower().rsplit("/", 1)[-1]
    return name.startswith(_REASONING_PREFIXES) and not name.startswith("gpt-5-chat")


# --------------------------------------------------------------------------------- request


def _input_items(messages: Iterable[Message]) -> tuple[str | None, list[dict[str, Any]]]:
    """Split messages into ``instructions`` (the leading system messages) and Responses input items.

    Only the leading system messages become ``instructions``; a system message
    later in the conversation keeps its place as a ``developer`` item, which is
    how the Responses API expects mid-conversation guidance.
    """
    instructions: list[str] = []
    items: list[dict[str, Any]] = []
    for message in messages:
        match message:
            case SystemMessage(content=text) if not items:
                instructions.append(text)
            case SystemMessage(content=text):
                items.append({"role": "developer", "content": text})
            case UserMessage(content=text):
                items.append({"role": "user", "content": text})
            case AssistantMessage(content=text, tool_calls=calls):
                if text:
                    items.append({"role": "assistant", "content": text})
                for call in calls:
                    items.append(
                        {
                            "type": "function_call",
                            "call_id": call.id,
                            "name": call.name,
                            "arguments": call.raw_arguments or json.dumps(call.arguments),
                        }
                    )
            case ToolResultMessage(tool_call_id=call_id, content=text):
                items.append({"type": "function_call_output", "call_id": call_id, "output": text})
    joined = "\n\n".join(part for part in instructions if part)
    return (joined or None), items


def build_params(
    request: ModelRequest,
    *,
    model: str,
    max_tokens: int | None = None,
    temperature: float | None = None,
    reasoning_effort: ReasoningEffort | None = None,
    reasoning_summary: ReasoningSummary | None = None,
    server_tools: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The keyword arguments for ``responses.create`` (without ``stream``).

    ``server_tools`` are Responses' own tool definitions (``web_search``,
    ``code_interpreter``): sent as they are beside the function tools, because OpenAI
    runs them and only reports what they did.

    ``store`` is off: massmem keeps its own history and sends it whole, so
    there is no reason to leave copies of every turn on OpenAI's side.
    """
    instructions, items = _input_items(request.messages)
    params: dict[str, Any] = {"model": model, "input": items, "store": False}
    if instructions:
        params["instructions"] = instructions
    if request.tools:
        params["tools"] = [
            {
                "type": "function",
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
                # Not strict: strict mode rejects schemas with optional properties.
                "strict": False,
            }
            for tool in request.tools
        ]
        params["tool_choice"] = request.tool_choice
    if server_tools:
        params["tools"] = [*params.get("tools", []), *(dict(t) for t in server_tools)]
    if request.response_format is not None:
        params["text"] = {
            "format": {
                "type": "json_schema",
                "name": request.response_format.name,
                "schema": request.response_format.schema,
                "strict": False,
            }
        }
    limit = request.max_tokens or max_tokens
    if limit:
        params["max_output_tokens"] = limit
    reasoning = is_reasoning_model(model) or reasoning_effort is not None
    temp = request.temperature if request.temperature is not None else temperature
    if temp is not None and not reasoning:
        # Reasoning models answer 400 to any temperature; leave it out for them.
        params["temperature"] = temp
    if reasoning_effort or reasoning_summary:
        options: dict[str, str] = {}
        if reasoning_effort:
            options["effort"] = reasoning_effort
        if reasoning_summary:
            options["summary"] = reasoning_summary
        params["reasoning"] = options
    return params


# --------------------------------------------------------------------------------- errors


def _auth_failed(status: int | None, code: str | None, agent_id: str | None) -> AuthenticationFailed:
    # The provider's own message quotes a masked key; it is deliberately not repeated.
    what = f"HTTP {status}" if status else "authentication error"
    if code:
        what += f", {code}"
    return AuthenticationFailed(
        f"OpenAI rejected the API key ({what}). Set {KEY_ENV} (or api_key in the backend config) "
        "to a valid key with access to this model.",
        provider=PROVIDER,
        agent_id=agent_id,
    )


def _classify(
    message: str,
    *,
    status: int | None = None,
    code: str | None = None,
    error_type: str | None = None,
    headers: Mapping[str, str] | None = None,
    agent_id: str | None = None,
) -> BackendError:
    """One OpenAI error (HTTP status or in-stream code) as a massmem error.

    Keys and rate limits are decided first: their messages mention tokens too,
    and must never be mistaken for a context overflow.  The status reads with
    the shared table; OpenAI's SDK retries 409, so a conflict is transient.
    """
    fault = fault_for_status(status, conflict_is_transient=True)
    if fault is Fault.AUTH or code in {"invalid_api_key", "invalid_authentication"}:
        return _auth_failed(status, code, agent_id)
    if fault is Fault.RATE_LIMIT or code in {"rate_limit_exceeded", "insufficient_quota"}:
        return RateLimited(
            f"OpenAI rate limit ({code or 'HTTP 429'}): {message}",
            retry_after=retry_after_from(headers),
            provider=PROVIDER,
            agent_id=agent_id,
        )
    overflow = detect_context_overflow(message, code)
    if overflow is not None and (status is None or 400 <= status < 500):
        return ContextLengthExceeded(
            f"OpenAI: the request does not fit the model's context window: {message}",
            requested_tokens=overflow.requested_tokens,
            allowed_tokens=overflow.allowed_tokens,
            provider=PROVIDER,
            agent_id=agent_id,
        )
    if (
        fault is Fault.UNAVAILABLE
        or code in {"server_error", "vector_store_timeout"}
        or error_type == "server_error"
    ):
        label = f"HTTP {status}" if status else (code or "server error")
        return ProviderUnavailable(
            f"OpenAI failed on its side ({label}): {message}", provider=PROVIDER, agent_id=agent_id
        )
    label = f"HTTP {status}" if status else "error"
    detail = ", ".join(part for part in (error_type, code) if part)
    return BackendError(
        f"OpenAI refused the request ({label}{', ' + detail if detail else ''}): {message}",
        provider=PROVIDER,
        agent_id=agent_id,
    )


def _body_fields(body: object) -> tuple[str | None, str | None, str | None]:
    """(message, code, type) from an OpenAI error body, which the SDK has already unwrapped."""
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            msg, code, kind = inner.get("message"), inner.get("code"), inner.get("type")
            return (
                str(msg) if msg is not None else None,
                str(code) if code is not None else None,
                str(kind) if kind is not None else None,
            )
    return None, None, None


def translate_exception(
    exc: BaseException, *, agent_id: str | None = None, timeout: float | None = None
) -> BackendError:
    """Map an ``openai`` (or transport) exception to :mod:`massmem.errors`."""
    import openai

    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        limit = f" after {timeout:g}s" if timeout else ""
        return ProviderUnavailable(
            f"OpenAI did not answer in time{limit}", provider=PROVIDER, agent_id=agent_id
        )
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        detail = f" ({type(cause).__name__})" if cause is not None else ""
        return ProviderUnavailable(
            f"OpenAI connection failed or was dropped{detail}", provider=PROVIDER, agent_id=agent_id
        )
    if isinstance(exc, openai.APIStatusError):
        message, code, kind = _body_fields(exc.body)
        return _classify(
            message or exc.message,
            status=exc.status_code,
            code=code or exc.code,
            error_type=kind or exc.type,
            headers=exc.response.headers,
            agent_id=agent_id,
        )
    if isinstance(exc, openai.APIResponseValidationError):
        return InvalidResponse(
            f"OpenAI sent data massmem cannot read: {exc.message}", provider=PROVIDER, agent_id=agent_id
        )
    if isinstance(exc, openai.APIError):
        # An error object inside the stream (the SDK raises these without an HTTP status).
        message, code, kind = _body_fields(exc.body)
        return _classify(
            message or exc.message, code=code or exc.code, error_type=kind or exc.type, agent_id=agent_id
        )
    if isinstance(exc, json.JSONDecodeError):
        return InvalidResponse(
            f"OpenAI sent an event that is not JSON: {exc.msg}", provider=PROVIDER, agent_id=agent_id
        )
    if isinstance(exc, openai.OpenAIError):
        return BackendError(f"OpenAI client error: {exc}", provider=PROVIDER, agent_id=agent_id)
    if is_transport_error(exc):
        return ProviderUnavailable(
            f"OpenAI connection failed or was dropped ({type(exc).__name__})",
            provider=PROVIDER,
            agent_id=agent_id,
        )
    # Anything else the SDK raised (a ValueError from its request building, say) is still
    # not allowed past the boundary; its type name stays in the message for whoever debugs it.
    return BackendError(
        f"OpenAI client error: {type(exc).__name__}: {exc}", provider=PROVIDER, agent_id=agent_id
    )


# --------------------------------------------------------------------------------- stream


@dataclass
class _PendingCall:
    call_id: str
    name: str
    arguments: list[str] = field(default_factory=list)
    final: str | None = None
    emitted: bool = False

    def as_tool_call(self) -> ToolCall:
        return ToolCall.from_raw(
            self.call_id, self.name, self.final if self.final is not None else "".join(self.arguments)
        )


class ResponsesTranslator:
    """Turns Responses stream events into massmem events.

    Function calls are emitted whole (``ToolCall`` is never partial) when
    their item is done; a stream that ends without ``response.completed``,
    ``response.incomplete`` or ``response.failed`` was cut off, which is a
    provider failure, not a short answer.
    """

    def __init__(self, agent_id: str | None = None) -> None:
        self.agent_id = agent_id
        self.calls: dict[str, _PendingCall] = {}
        self.usage: Usage | None = None
        self.finish: FinishReason | None = None
        self.refused = False

    def feed(self, event: Any) -> list[StreamEvent]:
        kind = getattr(event, "type", None)
        match kind:
            case "response.output_text.delta" | "response.refusal.delta":
                self.refused = self.refused or kind == "response.refusal.delta"
                delta = getattr(event, "delta", "") or ""
                return [TextDelta(delta)] if delta else []
            case "response.reasoning_summary_text.delta" | "response.reasoning_text.delta":
                delta = getattr(event, "delta", "") or ""
                return [ReasoningDelta(delta)] if delta else []
            case "response.output_item.added":
                self._track(getattr(event, "item", None))
                return []
            case "response.function_call_arguments.delta":
                pending = self.calls.get(getattr(event, "item_id", ""))
                if pending is not None:
                    pending.arguments.append(getattr(event, "delta", "") or "")
                return []
            case "response.function_call_arguments.done":
                pending = self.calls.get(getattr(event, "item_id", ""))
                if pending is not None:
                    pending.final = getattr(event, "arguments", None)
                return []
            case "response.output_item.done":
                return self._complete_item(getattr(event, "item", None))
            case "response.completed" | "response.incomplete":
                return self._end(getattr(event, "response", None), kind)
            case "response.failed":
                raise self._failure(getattr(event, "response", None))
            case "error":
                raise _classify(
                    str(getattr(event, "message", "") or "stream error"),
                    code=getattr(event, "code", None),
                    agent_id=self.agent_id,
                )
        return []

    @staticmethod
    def _new_call(item: Any) -> tuple[str, _PendingCall]:
        """The item id the argument deltas will name, and the call it starts."""
        call_id = str(getattr(item, "call_id", None) or getattr(item, "id", None) or "")
        key = str(getattr(item, "id", None) or call_id)
        return key, _PendingCall(call_id=call_id, name=str(getattr(item, "name", None) or ""))

    def _track(self, item: Any) -> None:
        if getattr(item, "type", None) != "function_call":
            return
        key, pending = self._new_call(item)
        self.calls[key] = pending

    def _complete_item(self, item: Any) -> list[StreamEvent]:
        kind = getattr(item, "type", None)
        if kind in SERVER_TOOL_ITEMS:
            return [_server_activity(item)]
        if kind != "function_call":
            return []
        key, fresh = self._new_call(item)
        pending = self.calls.setdefault(key, fresh)
        if getattr(item, "arguments", None):
            pending.final = item.arguments
        pending.name = getattr(item, "name", None) or pending.name
        if pending.emitted:
            return []
        pending.emitted = True
        return [pending.as_tool_call()]

    def _end(self, response: Any, kind: str) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        # Calls whose ``output_item.done`` never came are still in the final response.
        for item in getattr(response, "output", None) or []:
            out += self._complete_item(item)
        for pending in self.calls.values():
            if not pending.emitted:
                pending.emitted = True
                out.append(pending.as_tool_call())
        self.usage = _usage(getattr(response, "usage", None))
        if kind == "response.incomplete":
            details = getattr(response, "incomplete_details", None)
            reason = getattr(details, "reason", None)
            self.finish = "content_filter" if reason == "content_filter" else "length"
        elif self.refused:
            self.finish = "content_filter"
        else:
            self.finish = "tool_calls" if self.calls else "stop"
        return out

    def _failure(self, response: Any) -> BackendError:
        error = getattr(response, "error", None)
        message = str(getattr(error, "message", None) or "the response failed")
        return _classify(message, code=getattr(error, "code", None), agent_id=self.agent_id)

    def close(self) -> list[StreamEvent]:
        """The closing events, or :class:`ProviderUnavailable` when the stream was cut short."""
        if self.finish is None:
            raise ProviderUnavailable(
                "OpenAI's stream ended before the response was complete (connection closed early)",
                provider=PROVIDER,
                agent_id=self.agent_id,
            )
        out: list[StreamEvent] = []
        if self.usage is not None:
            out.append(self.usage)
        out.append(Finished(self.finish))
        return out


#: output items of the tools OpenAI runs itself; shown, never answered
SERVER_TOOL_ITEMS: dict[str, str] = {
    "web_search_call": "web_search",
    "code_interpreter_call": "code_interpreter",
    "file_search_call": "file_search",
}


def _server_activity(item: Any) -> ServerToolActivity:
    """A finished server-tool item as a line for the live view (the query or the code's start)."""
    tool = SERVER_TOOL_ITEMS[str(getattr(item, "type", ""))]
    action = getattr(item, "action", None)
    detail = getattr(action, "query", None) or getattr(item, "code", None) or getattr(item, "status", None)
    return ServerToolActivity(tool, str(detail or "").strip()[:200])


def server_tool_definitions(*, web_search: bool, code_interpreter: bool) -> list[dict[str, Any]]:
    """Responses' own tool definitions for the switches that are on."""
    tools: list[dict[str, Any]] = []
    if web_search:
        tools.append({"type": "web_search"})
    if code_interpreter:
        # ``auto``: OpenAI makes (or reuses) a container for the call; massmem keeps no files there.
        tools.append({"type": "code_interpreter", "container": {"type": "auto"}})
    return tools


def _usage(raw: Any) -> Usage | None:
    if raw is None:
        return None
    input_details = getattr(raw, "input_tokens_details", None)
    output_details = getattr(raw, "output_tokens_details", None)
    return Usage(
        input_tokens=int(getattr(raw, "input_tokens", 0) or 0),
        output_tokens=int(getattr(raw, "output_tokens", 0) or 0),
        reasoning_tokens=int(getattr(output_details, "reasoning_tokens", 0) or 0),
        cached_tokens=int(getattr(input_details, "cached_tokens", 0) or 0),
    )


# --------------------------------------------------------------------------------- backend


class OpenAIResponsesBackend(SdkBackend["AsyncOpenAI"]):
    """A model behind OpenAI's Responses API."""

    type_name = "openai"
    LABEL = "OpenAI"
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
        temperature: float | None = None,
        reasoning_effort: ReasoningEffort | None = None,
        reasoning_summary: ReasoningSummary | None = None,
        context_window: int | None = None,
        agent_id: str | None = None,
        server_tools: Sequence[dict[str, Any]] = (),
    ) -> None:
        reasoning = is_reasoning_model(model) or reasoning_effort is not None
        super().__init__(
            model=model,
            capabilities=Capabilities(
                tool_calling=True,
                json_schema=True,
                reasoning=reasoning,
                system_prompt="parameter",
                context_window=context_window or context_window_for(model),
            ),
            api_key=api_key or None,
            base_url=base_url or DEFAULT_BASE_URL,
            timeout=timeout,
            agent_id=agent_id,
        )
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.reasoning_effort = reasoning_effort
        self.reasoning_summary = reasoning_summary
        self.server_tools = list(server_tools)

    def _new_client(self) -> AsyncOpenAI:
        from openai import AsyncOpenAI

        return AsyncOpenAI(
            api_key=self._api_key, base_url=self.base_url, max_retries=SDK_RETRIES, timeout=self.timeout
        )

    def params(self, request: ModelRequest) -> dict[str, Any]:
        return build_params(
            request,
            model=self.model,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            reasoning_effort=self.reasoning_effort,
            reasoning_summary=self.reasoning_summary,
            server_tools=self.server_tools,
        )

    async def _events(self, client: AsyncOpenAI, request: ModelRequest) -> AsyncGenerator[StreamEvent, None]:
        translator = ResponsesTranslator(self.agent_id)
        sdk_stream = await client.responses.create(**self.params(request), stream=True)
        async with sdk_stream:
            async for event in sdk_stream:
                for out in translator.feed(event):
                    yield out
        for out in translator.close():
            yield out

    def translate(self, exc: BaseException) -> BackendError:
        return translate_exception(exc, agent_id=self.agent_id, timeout=self.timeout)


def from_config(config: OpenAIBackendConfig, **context: Any) -> OpenAIResponsesBackend:
    """Registry factory for ``type: openai``; ``context`` may carry ``agent_id``."""
    return OpenAIResponsesBackend(
        model=config.model,
        api_key=resolve_key(config),
        base_url=config.base_url,
        timeout=config.timeout,
        max_tokens=config.max_tokens,
        temperature=config.temperature,
        reasoning_effort=config.reasoning_effort,
        reasoning_summary=config.reasoning_summary,
        context_window=config.context_window,
        agent_id=context.get("agent_id"),
        server_tools=server_tool_definitions(
            web_search=config.enable_web_search, code_interpreter=config.enable_code_interpreter
        ),
    )


def resolve_key(config: OpenAIBackendConfig) -> str | None:
    """The configured key, else the provider's environment variable (official endpoint only)."""
    return _resolve_key(config, (KEY_ENV,), DEFAULT_BASE_URL)
