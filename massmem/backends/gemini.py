"""Google Gemini (``type: gemini``) through ``google.genai``'s ``aio.models.generate_content_stream``.

On the wire this is ``POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse``:
unnamed SSE events, each a whole ``GenerateContentResponse``.  Gemini's
shapes differ from the OpenAI family in ways this module absorbs: the system
prompt is ``system_instruction``, function calls arrive complete (never as
argument fragments) and may carry no id, tool results are ``functionResponse``
parts in a *user* turn, thinking arrives as text parts flagged ``thought``, and
thinking models sign their function calls (``thoughtSignature``) and expect
the signature back on the next turn.

Every ``google.genai`` exception — and the raw ``httpx2`` errors the SDK does
not wrap — becomes a :mod:`massmem.errors` exception here.  The SDK's own
retries, automatic function calling and automatic stream continuation are
all off: massmem runs its own tools, and :mod:`massmem.backends.retry` owns
retrying without repeating streamed text.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections import OrderedDict
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from massmem.backends.base import Capabilities, ModelRequest
from massmem.backends.faults import (
    Fault,
    detect_context_overflow,
    fault_for_status,
    is_timeout,
    is_transport_error,
    retry_after_from,
)
from massmem.backends.sdk_backend import SdkBackend
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
    from google.genai import Client

    from massmem.config.schema import GeminiBackendConfig

__all__ = [
    "KEY_ENVS",
    "GeminiBackend",
    "GeminiTranslator",
    "build_config",
    "build_contents",
    "context_window_for",
    "from_config",
    "resolve_key",
    "translate_exception",
]

PROVIDER = "gemini"
#: Looked up in this order; GEMINI_API_KEY is what Google AI Studio tells people to set.
KEY_ENVS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/"
#: Google's documented stand-in for a lost thought signature (Gemini 3 refuses replayed calls without one).
SKIP_SIGNATURE = base64.urlsafe_b64decode("skip_thought_signature_validator")
_CALL_MEMORY = 1024

_CONTEXT_WINDOWS: tuple[tuple[str, int], ...] = (
    ("gemini-1.5-pro", 2_097_152),
    ("gemini-", 1_048_576),
    ("gemma-3", 131_072),
)

_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}


def context_window_for(model: str) -> int | None:
    name = model.lower().removeprefix("models/")
    for prefix, window in _CONTEXT_WINDOWS:
        if name.startswith(prefix):
            return window
    return None


def _generation(model: str) -> float:
    """The family number in ``gemini-2.5-flash`` (2.5), or 0 when the name does not say."""
    match = re.search(r"gemini-(\d+(?:\.\d+)?)", model.lower())
    return float(match.group(1)) if match else 0.0


def thinks_by_default(model: str) -> bool:
    return _generation(model) >= 2.5


# --------------------------------------------------------------------------------- request


@dataclass(frozen=True, slots=True)
class _CallOrigin:
    """What Gemini sent for a function call massmem gave an id to."""

    gemini_id: str | None
    signature: bytes | None


def build_contents(
    messages: Iterable[Message],
    *,
    calls: Mapping[str, _CallOrigin] | None = None,
    needs_signature: bool = False,
) -> tuple[str | None, list[dict[str, Any]]]:
    """(system_instruction, contents) in the SDK's dict form.

    ``calls`` tells which tool-call ids Gemini really issued (ids massmem
    invented are not sent back) and which thought signature to return with
    them.  With ``needs_signature`` (Gemini 3), the first call of a model turn
    whose signature was lost gets Google's documented skip value instead.
    """
    calls = calls or {}
    system: list[str] = []
    turns: list[tuple[str, list[dict[str, Any]]]] = []
    for message in messages:
        match message:
            case SystemMessage(content=text):
                if text:
                    system.append(text)
            case UserMessage(content=text):
                turns.append(("user", [{"text": text}] if text else []))
            case AssistantMessage(content=text, tool_calls=tool_calls):
                parts: list[dict[str, Any]] = [{"text": text}] if text else []
                for index, call in enumerate(tool_calls):
                    origin = calls.get(call.id)
                    function_call: dict[str, Any] = {"name": call.name, "args": dict(call.arguments)}
                    if origin is None or origin.gemini_id:
                        function_call["id"] = origin.gemini_id if origin else call.id
                    part: dict[str, Any] = {"function_call": function_call}
                    signature = origin.signature if origin else None
                    if signature is None and needs_signature and index == 0:
                        signature = SKIP_SIGNATURE
                    if signature is not None:
                        part["thought_signature"] = signature
                    parts.append(part)
                turns.append(("model", parts))
            case ToolResultMessage(tool_call_id=call_id, name=name, content=text):
                origin = calls.get(call_id)
                response: dict[str, Any] = {"name": name, "response": _tool_output(text)}
                if origin is None or origin.gemini_id:
                    response["id"] = origin.gemini_id if origin else call_id
                turns.append(("user", [{"function_response": response}]))
    contents: list[dict[str, Any]] = []
    for role, parts in turns:
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": list(parts)})
    return ("\n\n".join(system) or None), contents


def _tool_output(text: str) -> dict[str, Any]:
    """A tool's output as the object Gemini wants: the JSON object itself, else ``{"result": text}``."""
    try:
        parsed = json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return {"result": text}
    return parsed if isinstance(parsed, dict) else {"result": parsed}


def build_config(
    request: ModelRequest,
    *,
    system: str | None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    thinking_budget: int | None = None,
    server_tools: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The ``GenerateContentConfig`` (as a dict) for one request.

    ``server_tools`` are Gemini's built-in tools (``google_search``, ``code_execution``),
    each its own ``Tool`` entry beside the function declarations: Google runs them.
    """
    config: dict[str, Any] = {
        # massmem executes tools itself and retries in its own wrapper.
        "automatic_function_calling": {"disable": True},
        "automatic_continuation": False,
    }
    if system:
        config["system_instruction"] = system
    if request.tools:
        config["tools"] = [
            {
                "function_declarations": [
                    {"name": t.name, "description": t.description, "parameters_json_schema": t.parameters}
                    for t in request.tools
                ]
            }
        ]
        mode = {"auto": "AUTO", "required": "ANY", "none": "NONE"}[request.tool_choice]
        config["tool_config"] = {"function_calling_config": {"mode": mode}}
    if server_tools:
        config["tools"] = [*config.get("tools", []), *(dict(t) for t in server_tools)]
    if request.response_format is not None:
        config["response_mime_type"] = "application/json"
        config["response_json_schema"] = request.response_format.schema
    limit = request.max_tokens or max_tokens
    if limit:
        config["max_output_tokens"] = limit
    temp = request.temperature if request.temperature is not None else temperature
    if temp is not None:
        config["temperature"] = temp
    if thinking_budget is not None:
        config["thinking_config"] = {
            "thinking_budget": thinking_budget,
            "include_thoughts": thinking_budget > 0,
        }
    return config


# --------------------------------------------------------------------------------- errors


def _retry_delay(details: object, headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait: the Retry-After header, else the body's ``RetryInfo.retryDelay`` ("20s")."""
    seconds = retry_after_from(headers)
    if seconds is not None:
        return seconds
    error = details.get("error", details) if isinstance(details, Mapping) else None
    items = error.get("details") if isinstance(error, Mapping) else None
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping) and str(item.get("@type", "")).endswith("RetryInfo"):
            match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _is_key_problem(message: str, details: object) -> bool:
    if "api key" in message.lower() and ("not valid" in message.lower() or "invalid" in message.lower()):
        return True
    return "API_KEY_INVALID" in json.dumps(details, default=str) if details is not None else False


def _classify(
    message: str,
    *,
    code: int | None,
    status: str | None,
    details: object = None,
    headers: Mapping[str, str] | None = None,
    agent_id: str | None = None,
) -> BackendError:
    """One Gemini error (HTTP code + RPC status) as a massmem error.

    Keys and quotas are decided first, so a quota message that mentions
    tokens is never taken for a context overflow.  The status reads with the
    shared table; google-genai does not retry 409, so a conflict is refused.
    """
    fault = fault_for_status(code, conflict_is_transient=False)
    if (
        fault is Fault.AUTH
        or status in {"UNAUTHENTICATED", "PERMISSION_DENIED"}
        or _is_key_problem(message, details)
    ):
        return AuthenticationFailed(
            f"Google rejected the Gemini API key ({status or f'HTTP {code}'}). Set {KEY_ENVS[0]} "
            f"(or {KEY_ENVS[1]}, or api_key in the backend config) to a valid key.",
            provider=PROVIDER,
            agent_id=agent_id,
        )
    if fault is Fault.RATE_LIMIT or status == "RESOURCE_EXHAUSTED":
        return RateLimited(
            f"Gemini rate limit or quota ({status or 'HTTP 429'}): {message}",
            retry_after=_retry_delay(details, headers),
            provider=PROVIDER,
            agent_id=agent_id,
        )
    overflow = detect_context_overflow(message)
    if overflow is not None and (code is None or 400 <= code < 500):
        return ContextLengthExceeded(
            f"Gemini: the request does not fit the model's context window: {message}",
            requested_tokens=overflow.requested_tokens,
            allowed_tokens=overflow.allowed_tokens,
            provider=PROVIDER,
            agent_id=agent_id,
        )
    if fault is Fault.UNAVAILABLE or status in {
        "UNAVAILABLE",
        "INTERNAL",
        "DEADLINE_EXCEEDED",
    }:
        return ProviderUnavailable(
            f"Gemini failed on its side ({status or f'HTTP {code}'}): {message}",
            provider=PROVIDER,
            agent_id=agent_id,
        )
    label = ", ".join(part for part in (f"HTTP {code}" if code else None, status) if part)
    return BackendError(
        f"Gemini refused the request ({label or 'error'}): {message}", provider=PROVIDER, agent_id=agent_id
    )


def translate_exception(
    exc: BaseException, *, agent_id: str | None = None, timeout: float | None = None
) -> BackendError:
    """Map a ``google.genai`` (or raw transport) exception to :mod:`massmem.errors`."""
    from google.genai import errors as genai_errors

    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, genai_errors.APIError):
        headers = getattr(getattr(exc, "response", None), "headers", None)
        code = exc.code if isinstance(exc.code, int) else None
        return _classify(
            str(exc.message or exc),
            code=code,
            status=str(exc.status) if exc.status else None,
            details=exc.details,
            headers=headers if isinstance(headers, Mapping) else None,
            agent_id=agent_id,
        )
    if isinstance(exc, (genai_errors.UnknownApiResponseError, json.JSONDecodeError)):
        return InvalidResponse(
            f"Gemini sent a chunk that is not JSON: {exc}", provider=PROVIDER, agent_id=agent_id
        )
    if type(exc).__module__.split(".", 1)[0] == "pydantic":
        return InvalidResponse(
            f"Gemini sent a chunk massmem cannot read: {exc}", provider=PROVIDER, agent_id=agent_id
        )
    if is_timeout(exc):
        limit = f" after {timeout:g}s" if timeout else ""
        return ProviderUnavailable(
            f"Gemini did not answer in time{limit}", provider=PROVIDER, agent_id=agent_id
        )
    if is_transport_error(exc):
        return ProviderUnavailable(
            f"Gemini connection failed or was dropped ({type(exc).__name__})",
            provider=PROVIDER,
            agent_id=agent_id,
        )
    # Anything else the SDK raised (a ValueError from its request building, say) is still
    # not allowed past the boundary; its type name stays in the message for whoever debugs it.
    return BackendError(
        f"Gemini client error: {type(exc).__name__}: {exc}", provider=PROVIDER, agent_id=agent_id
    )


# --------------------------------------------------------------------------------- stream


class GeminiTranslator:
    """Turns ``GenerateContentResponse`` chunks into massmem events.

    A stream is complete when a candidate carries a ``finish_reason`` (or the
    prompt itself was blocked); one that just stops was cut off, which is a
    provider failure.  Usage is a running total, so only the last one counts.
    """

    def __init__(self, agent_id: str | None = None) -> None:
        self.agent_id = agent_id
        self.usage: Any = None
        self.finish: str | None = None
        self.blocked = False
        self.calls: dict[str, _CallOrigin] = {}
        self.searches: set[str] = set()

    def feed(self, chunk: Any) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        if getattr(chunk, "usage_metadata", None) is not None:
            self.usage = chunk.usage_metadata
        feedback = getattr(chunk, "prompt_feedback", None)
        if feedback is not None and getattr(feedback, "block_reason", None):
            self.blocked = True
        candidates = getattr(chunk, "candidates", None) or []
        if not candidates:
            return out
        candidate = candidates[0]
        content = getattr(candidate, "content", None)
        for part in getattr(content, "parts", None) or []:
            out += self._part(part)
        out += self._grounding(getattr(candidate, "grounding_metadata", None))
        reason = getattr(candidate, "finish_reason", None)
        if reason is not None:
            self.finish = str(getattr(reason, "value", reason))
        return out

    def _grounding(self, metadata: Any) -> list[StreamEvent]:
        """Google Search ran: each query it made, once (the metadata repeats in later chunks)."""
        out: list[StreamEvent] = []
        for query in getattr(metadata, "web_search_queries", None) or []:
            if query and query not in self.searches:
                self.searches.add(query)
                out.append(ServerToolActivity("google_search", str(query)[:200]))
        return out

    def _part(self, part: Any) -> list[StreamEvent]:
        code = getattr(part, "executable_code", None)
        if code is not None:
            # Google runs the code itself; its parts are shown, never answered.
            return [ServerToolActivity("code_execution", str(getattr(code, "code", "") or "").strip()[:200])]
        result = getattr(part, "code_execution_result", None)
        if result is not None:
            outcome = getattr(result, "outcome", None)
            outcome = str(getattr(outcome, "value", outcome) or "")
            output = str(getattr(result, "output", "") or "").strip()
            return [ServerToolActivity("code_execution", f"{outcome}: {output}"[:200] if output else outcome)]
        call = getattr(part, "function_call", None)
        if call is not None:
            gemini_id = getattr(call, "id", None) or None
            call_id = gemini_id or f"gemini_call_{uuid.uuid4().hex[:16]}"
            args = getattr(call, "args", None) or {}
            self.calls[call_id] = _CallOrigin(gemini_id, getattr(part, "thought_signature", None))
            return [
                ToolCall(
                    id=call_id,
                    name=str(getattr(call, "name", "") or ""),
                    arguments=dict(args),
                    raw_arguments=json.dumps(args, default=str),
                )
            ]
        text = getattr(part, "text", None)
        if not text:
            return []
        if getattr(part, "thought", None):
            return [ReasoningDelta(text)]
        return [TextDelta(text)]

    def close(self) -> list[StreamEvent]:
        if self.finish is None and not self.blocked:
            raise ProviderUnavailable(
                "Gemini's stream ended before a finish reason (connection closed early)",
                provider=PROVIDER,
                agent_id=self.agent_id,
            )
        if self.finish is None:
            reason: FinishReason = "content_filter"
        else:
            reason = _FINISH.get(self.finish, "other")
        if self.calls and reason == "stop":
            reason = "tool_calls"
        out: list[StreamEvent] = []
        if self.usage is not None:
            thoughts = int(getattr(self.usage, "thoughts_token_count", 0) or 0)
            out.append(
                Usage(
                    input_tokens=int(getattr(self.usage, "prompt_token_count", 0) or 0),
                    # Gemini counts thinking apart from the answer; both are output the model produced.
                    output_tokens=int(getattr(self.usage, "candidates_token_count", 0) or 0) + thoughts,
                    reasoning_tokens=thoughts,
                    cached_tokens=int(getattr(self.usage, "cached_content_token_count", 0) or 0),
                )
            )
        out.append(Finished(reason))
        return out


def server_tool_definitions(*, web_search: bool, code_execution: bool) -> list[dict[str, Any]]:
    """Gemini's built-in tool entries for the switches that are on."""
    tools: list[dict[str, Any]] = []
    if web_search:
        tools.append({"google_search": {}})
    if code_execution:
        tools.append({"code_execution": {}})
    return tools


# --------------------------------------------------------------------------------- backend


class GeminiBackend(SdkBackend["Client"]):
    """A Gemini model behind the Gemini Developer API."""

    type_name = "gemini"
    LABEL = "Gemini"
    KEY_ENVS = KEY_ENVS
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
        thinking_budget: int | None = None,
        context_window: int | None = None,
        agent_id: str | None = None,
        server_tools: Sequence[dict[str, Any]] = (),
    ) -> None:
        reasoning = (thinking_budget or 0) > 0 or (thinking_budget is None and thinks_by_default(model))
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
        self.thinking_budget = thinking_budget
        self.server_tools = list(server_tools)
        # massmem tool-call id -> Gemini's id and thought signature, for replaying the call.
        self._calls: OrderedDict[str, _CallOrigin] = OrderedDict()

    def _new_client(self) -> Client:
        from google import genai
        from google.genai import types

        # No retry_options: google-genai does not retry unless asked to.
        return genai.Client(
            api_key=self._api_key,
            vertexai=False,
            http_options=types.HttpOptions(base_url=self.base_url, timeout=int(self.timeout * 1000)),
        )

    async def _close_client(self, client: Client) -> None:
        await client.aio.aclose()

    def request_parts(self, request: ModelRequest) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """(contents, config) for ``generate_content_stream``."""
        system, contents = build_contents(
            request.messages, calls=self._calls, needs_signature=_generation(self.model) >= 3
        )
        config = build_config(
            request,
            system=system,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            thinking_budget=self.thinking_budget,
            server_tools=self.server_tools,
        )
        return contents, config

    def _remember(self, translator: GeminiTranslator) -> None:
        self._calls.update(translator.calls)
        while len(self._calls) > _CALL_MEMORY:
            self._calls.popitem(last=False)

    async def _events(self, client: Client, request: ModelRequest) -> AsyncGenerator[StreamEvent, None]:
        translator = GeminiTranslator(self.agent_id)
        contents, config = self.request_parts(request)
        chunks: Any = await client.aio.models.generate_content_stream(
            model=self.model, contents=cast(Any, contents), config=cast(Any, config)
        )
        try:
            async for chunk in chunks:
                for out in translator.feed(chunk):
                    yield out
        finally:
            await chunks.aclose()  # releases the connection when the consumer stops early
        closing = translator.close()
        self._remember(translator)
        for out in closing:
            yield out

    def translate(self, exc: BaseException) -> BackendError:
        return translate_exception(exc, agent_id=self.agent_id, timeout=self.timeout)


def from_config(config: GeminiBackendConfig, **context: Any) -> GeminiBackend:
    """Registry factory for ``type: gemini``; ``context`` may carry ``agent_id``."""
    return GeminiBackend(
        model=config.model,
        api_key=resolve_key(config),
        base_url=config.base_url,
        timeout=config.timeout,
        max_tokens=config.max_tokens,
        temperature=config.temperature,
        thinking_budget=config.thinking_budget,
        context_window=config.context_window,
        agent_id=context.get("agent_id"),
        server_tools=server_tool_definitions(
            web_search=config.enable_web_search, code_execution=config.enable_code_execution
        ),
    )


def resolve_key(config: GeminiBackendConfig) -> str | None:
    """The configured key, else the provider's environment variable (official endpoint only)."""
    return _resolve_key(config, KEY_ENVS, DEFAULT_BASE_URL)
