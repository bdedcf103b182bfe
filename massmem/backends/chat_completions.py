"""Any server that speaks OpenAI Chat Completions, through the official ``openai`` SDK.

One backend covers OpenAI itself, the OpenAI-compatible clouds (Grok, Groq,
Together, Cerebras, Fireworks, OpenRouter) and the local servers (vLLM,
SGLang, LM Studio, Ollama, llama.cpp).  It converts massmem's typed messages
to the wire format, streams the answer, and turns the chunks back into typed
events: text, reasoning (the ``reasoning_content``/``reasoning`` delta fields
that vLLM, llama.cpp, DeepSeek and OpenRouter add), tool calls assembled from
their streamed fragments, usage, and exactly one ``Finished``.

Its neighbours hold the rest: :mod:`~massmem.backends.chat_stream` assembles
the chunks, :mod:`~massmem.backends.self_hosted` knows what self-hosted
servers do differently, and :mod:`~massmem.backends.chat_faults` translates
every SDK or transport exception into :mod:`massmem.errors` at the boundary;
nothing above ``massmem.backends`` ever sees an ``openai`` exception.  The SDK itself is imported on first use, so importing
this module stays cheap (and ``massmem --help`` never loads it at all: the
registry imports this module only when a backend of this type is built).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from massmem.backends.base import Capabilities, JsonSchemaFormat, ModelRequest, ToolSpec
from massmem.backends.chat_faults import ChatServer, translate_exception
from massmem.backends.chat_stream import ChunkAssembler
from massmem.backends.presets import LOCAL_PLACEHOLDER_KEY, get_preset
from massmem.backends.sdk_backend import SDK_RETRIES, SdkBackend, is_official
from massmem.backends.self_hosted import (
    Dialect,
    MaxTokensField,
    counted_usage,
    preflight_prompt_tokens,
    probe_error,
    rejects_stream_options,
    speaks_llama_cpp_python,
)
from massmem.errors import (
    AuthenticationFailed,
    BackendError,
    ProviderUnavailable,
    register_secret,
)
from massmem.messages import (
    AssistantMessage,
    Finished,
    Message,
    StreamEvent,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    UserMessage,
)

if TYPE_CHECKING:
    from openai import AsyncOpenAI

    from massmem.config.schema import ChatCompletionBackendConfig

__all__ = [
    "ChatCompletionsBackend",
    "from_config",
    "response_format_param",
    "to_wire_messages",
    "to_wire_tools",
]

# --------------------------------------------------------------------------- request building


def to_wire_messages(messages: Sequence[Message], dialect: Dialect = "openai") -> list[dict[str, Any]]:
    """massmem messages as Chat Completions ``messages`` (system stays a message)."""
    return [_wire_message(m, dialect) for m in messages]


def _wire_message(message: Message, dialect: Dialect) -> dict[str, Any]:
    match message:
        case SystemMessage(content=c):
            return {"role": "system", "content": c}
        case UserMessage(content=c):
            return {"role": "user", "content": c}
        case AssistantMessage(content=c, tool_calls=calls):
            out: dict[str, Any] = {"role": "assistant", "content": c}
            if calls:
                # OpenAI documents null beside tool calls when the model said nothing.
                out["content"] = c or (None if dialect == "openai" else "")
                out["tool_calls"] = [_wire_tool_call(t) for t in calls]
            return out
        case ToolResultMessage(tool_call_id=i, content=c):
            return {"role": "tool", "tool_call_id": i, "content": c}
    raise TypeError(f"not a message: {message!r}")


def _wire_tool_call(call: ToolCall) -> dict[str, Any]:
    """Replay the model's own argument text when it was valid JSON, else the parsed arguments."""
    arguments = call.raw_arguments
    try:
        json.loads(arguments)
    except (TypeError, ValueError):
        arguments = json.dumps(call.arguments)
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": arguments}}


def to_wire_tools(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]


def response_format_param(fmt: JsonSchemaFormat, dialect: Dialect = "openai") -> dict[str, Any]:
    """The ``response_format`` value for ``fmt`` in the server's dialect."""
    if dialect == "llama-cpp-python":
        return {"type": "json_object", "schema": fmt.schema}
    # OpenAI restricts the name to 64 letters, digits, '_' and '-'.
    name = re.sub(r"[^A-Za-z0-9_-]", "_", fmt.name)[:64] or "response"
    return {"type": "json_schema", "json_schema": {"name": name, "schema": fmt.schema, "strict": True}}


# --------------------------------------------------------------------------- the backend


class ChatCompletionsBackend(SdkBackend["AsyncOpenAI"]):
    """A model behind ``POST {base_url}/chat/completions``.

    Built by :func:`from_config`; the keyword arguments exist so other backends
    (the local llama.cpp server) can point one at an endpoint they manage.

    Servers differ, so the backend adapts once and remembers: one that rejects
    ``stream_options`` is asked again without it; one that answers with
    llama-cpp-python's validation error gets that server's ``dialect``.
    ``preflight`` sends a one-token non-streaming copy of each request first:
    llama-cpp-python hides a context-length error inside an empty ``200``
    stream and reports no usage when streaming, and the preflight surfaces
    both (the prompt is cached server-side, so the real request reuses it).
    ``type: local`` turns it on; any other server gets it after its first empty
    stream whose non-streamed twin reveals an error (a user-run llama-cpp-python
    server behind ``provider: llamacpp`` or a bare ``base_url``).  Those quirks
    live in :mod:`massmem.backends.self_hosted`.
    A stream that ends without a finish reason is a failure, never a short
    answer: that is how a dropped connection (or a server cutting a stream
    off) looks from here.
    """

    type_name = "chatcompletion"

    def __init__(
        self,
        *,
        model: str,
        base_url: str,
        api_key: str | None,
        provider: str = "chatcompletion",
        key_env: str | None = None,
        key_required: bool = False,
        withheld_key: str | None = None,
        timeout: float = 600.0,
        temperature: float | None = None,
        max_tokens: int | None = None,
        context_window: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        agent_id: str | None = None,
        capabilities: Capabilities | None = None,
        dialect: Dialect = "openai",
        max_tokens_field: MaxTokensField = "max_tokens",
        preflight: bool = False,
        search_parameters: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            model=model,
            capabilities=capabilities
            or Capabilities(tool_calling=True, json_schema=True, context_window=context_window),
            api_key=api_key,
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            agent_id=agent_id,
        )
        self.provider = provider
        self.temperature = temperature
        self.max_tokens = max_tokens
        self._key_env = key_env
        self._key_required = key_required
        #: "GROQ_API_KEY is sent only to …" when ``base_url`` overrides a cloud preset's URL
        self._withheld_key = withheld_key
        self._extra_headers = dict(extra_headers or {})
        for value in self._extra_headers.values():
            register_secret(value)  # a header value is a token unless proven otherwise
        self._dialect: Dialect = dialect
        self._max_tokens_field = max_tokens_field
        self._preflight = preflight
        self._send_stream_options = True
        #: xAI live search (``enable_web_search`` on grok): a body field xAI reads, the SDK does not know
        self._search_parameters = dict(search_parameters) if search_parameters else None

    def describe(self) -> str:
        return f"{self.type_name}[{self.provider}]:{self.model}"

    # -- the seam ------------------------------------------------------------------------------
    async def _events(self, client: AsyncOpenAI, request: ModelRequest) -> AsyncGenerator[StreamEvent, None]:
        prompt_tokens, sdk_stream = await self._start(client, request)
        assembler = ChunkAssembler()
        streamed = False
        try:
            async for chunk in sdk_stream:
                for event in assembler.feed(chunk):
                    streamed = True
                    yield event
        finally:
            await _close_quietly(sdk_stream)
        if assembler.finish_reason is None and not streamed and self._may_hide_errors():
            # An empty stream with no finish: llama-cpp-python's way of hiding an error (a
            # context overflow among them) behind a 200.  Ask once without streaming to learn
            # the real error; if there is one, preflight every later request on this server.
            error = await probe_error(
                client, self._request_params(request), self._max_tokens_field, self.translate
            )
            if error is not None:
                self._preflight = True
                raise error
        if assembler.finish_reason is None:
            raise ProviderUnavailable(
                f"{self.provider}: the stream from {self.base_url} ended before the model finished "
                "(connection dropped or server error mid-answer)",
                provider=self.provider,
                agent_id=self.agent_id,
            )
        calls = assembler.tool_calls()
        for call in calls:
            yield call
        usage = assembler.usage or counted_usage(prompt_tokens, assembler.output_chunks)
        if usage is not None:
            yield usage
        yield Finished(assembler.reason(bool(calls)))

    # -- request -------------------------------------------------------------------------------
    def _request_params(self, request: ModelRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            "messages": to_wire_messages(request.messages, self._dialect),
            "stream": True,
        }
        if request.tools:
            params["tools"] = to_wire_tools(request.tools)
            params["tool_choice"] = request.tool_choice
        if request.response_format is not None:
            fmt = response_format_param(request.response_format, self._dialect)
            if self._dialect == "openai":
                params["response_format"] = fmt
            else:
                # Not a shape the SDK knows; extra_body sends it verbatim.
                params["extra_body"] = {"response_format": fmt}
        max_tokens = request.max_tokens if request.max_tokens is not None else self.max_tokens
        if max_tokens is not None:
            params[self._max_tokens_field] = max_tokens
        temperature = request.temperature if request.temperature is not None else self.temperature
        if temperature is not None:
            params["temperature"] = temperature
        if self._search_parameters:
            params["extra_body"] = {
                **params.get("extra_body", {}),
                "search_parameters": self._search_parameters,
            }
        return params

    async def _start(self, client: AsyncOpenAI, request: ModelRequest) -> tuple[int | None, Any]:
        """Preflight (if on) and open the stream; switch dialect once if the server demands it."""
        while True:
            params = self._request_params(request)
            try:
                prompt_tokens = (
                    await preflight_prompt_tokens(client, params, self._max_tokens_field)
                    if self._preflight
                    else None
                )
                return prompt_tokens, await self._open_stream(client, params)
            except Exception as exc:
                if self._dialect == "llama-cpp-python" or not speaks_llama_cpp_python(exc):
                    raise
                self._dialect = "llama-cpp-python"

    def _missing_key(self) -> AuthenticationFailed | None:
        if self._api_key is not None or not self._key_required:
            return None
        where = f"set the {self._key_env} environment variable (or api_key in the backend config)"
        if self._withheld_key:
            where = f"set api_key in the backend config ({self._withheld_key})"
        return AuthenticationFailed(
            f"no API key for {self.provider} at {self.base_url}: {where}",
            provider=self.provider,
            agent_id=self.agent_id,
        )

    def _new_client(self) -> AsyncOpenAI:
        import openai

        return openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self._api_key or LOCAL_PLACEHOLDER_KEY,
            max_retries=SDK_RETRIES,
            timeout=self.timeout,
            default_headers=self._extra_headers or None,
        )

    async def _open_stream(self, client: AsyncOpenAI, params: dict[str, Any]) -> Any:
        """Start streaming; servers that reject ``stream_options`` get the request once more without it."""
        if self._send_stream_options:
            try:
                return await client.chat.completions.create(**params, stream_options={"include_usage": True})
            except Exception as exc:
                if not rejects_stream_options(exc):
                    raise
                self._send_stream_options = False
        return await client.chat.completions.create(**params)

    def _may_hide_errors(self) -> bool:
        """Self-hosted servers (no key needed) may stream errors away; cloud APIs do not."""
        return not self._preflight and not self._key_required

    # -- errors --------------------------------------------------------------------------------
    def translate(self, exc: BaseException) -> BackendError:
        """Any exception from the SDK or the transport, as a massmem error (never an SDK type)."""
        return translate_exception(
            exc,
            ChatServer(
                provider=self.provider,
                base_url=self.base_url,
                timeout=self.timeout,
                agent_id=self.agent_id,
                key_hint=self._key_hint(),
                context_window=self.capabilities.context_window,
            ),
        )

    def _key_hint(self) -> str:
        if self._key_env:
            return f"Set {self._key_env} to a valid key (or api_key in the backend config)."
        if self._withheld_key:
            return f"Set api_key in the backend config to a key this server accepts ({self._withheld_key})."
        return "Set api_key in the backend config to a key this server accepts."


async def _close_quietly(sdk_stream: Any) -> None:
    # Closing a broken connection may fail too; the error worth reporting is the one already raised.
    with contextlib.suppress(Exception):
        await sdk_stream.close()


# --------------------------------------------------------------------------- factory


def from_config(config: ChatCompletionBackendConfig, **context: Any) -> ChatCompletionsBackend:
    """Build from a validated config; ``context`` may carry ``agent_id`` for error messages.

    The key comes from ``api_key`` in the config, else from the preset's variable —
    but only while the backend talks to the preset's own URL.  A cloud preset without
    a key fails on the first call (before any request), so a fallback backend that is
    never used does not need a key.  A ``base_url`` of its own (bare, or overriding a
    preset's) never receives a key from the environment: ``GROQ_API_KEY`` sent to
    whatever host the URL names would leak it; such a backend names its key with
    ``api_key`` (a cloud preset's still needs one, and says so before any request).
    """
    preset = get_preset(config.provider) if config.provider else None
    base_url = config.base_url or (preset.base_url if preset else "")
    own_url = preset is not None and is_official(config.base_url, preset.base_url)
    key_env = preset.key_env if preset is not None and own_url else None
    api_key = config.api_key.get_secret_value() if config.api_key is not None else None
    if api_key is None and key_env:
        api_key = os.environ.get(key_env) or None
    return ChatCompletionsBackend(
        model=config.model,
        base_url=base_url,
        api_key=api_key,
        provider=config.provider or _host(base_url),
        key_env=key_env,
        key_required=bool(preset and preset.needs_key),
        withheld_key=(
            f"{preset.key_env} is sent only to {preset.base_url}"
            if preset is not None and preset.key_env and not own_url
            else None
        ),
        timeout=config.timeout,
        temperature=config.temperature,
        max_tokens=config.max_tokens,
        context_window=config.context_window,
        extra_headers={name: value.get_secret_value() for name, value in config.extra_headers.items()},
        agent_id=context.get("agent_id"),
        max_tokens_field="max_completion_tokens" if config.provider == "openai" else "max_tokens",
        # The schema allows the switch only with provider: grok (xAI runs the search itself).
        search_parameters=GROK_LIVE_SEARCH if config.enable_web_search else None,
    )


#: xAI's Chat Completions live search: the model decides when to search, and says where it looked
GROK_LIVE_SEARCH: dict[str, Any] = {"mode": "auto", "return_citations": True}


def _host(url: str) -> str:
    match = re.match(r"^https?://([^/:]+)", url)
    return match.group(1) if match else "chatcompletion"
