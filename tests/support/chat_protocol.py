"""OpenAI Chat Completions on the wire, for scripting the loopback server.

Builders return :class:`~tests.support.loopback.Reply` objects shaped like what
real servers send: ``chat.completion.chunk`` objects with ``id``, ``object``,
``created``, ``model`` and ``choices[].delta``/``finish_reason``; tool-call
fragments carrying ``index`` with the id and name once and the arguments split
across chunks; a final usage chunk with empty ``choices``; ``data: [DONE]``.
The error builders reproduce each provider's real error body for the faults
massmem must recognise (context length above all).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tests.support.loopback import Reply, SSEEvent

CHUNK_ID = "chatcmpl-loopback0001"
CREATED = 1_730_000_000
MODEL = "test-model"

# --------------------------------------------------------------------------- chunks


def chunk(
    delta: dict[str, Any] | None = None,
    finish_reason: str | None = None,
    *,
    model: str = MODEL,
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One ``chat.completion.chunk``; ``delta=None`` with ``usage`` gives the final usage chunk."""
    body: dict[str, Any] = {
        "id": CHUNK_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "system_fingerprint": "fp_loopback",
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def usage_chunk(
    prompt_tokens: int, completion_tokens: int, *, reasoning_tokens: int = 0, cached_tokens: int = 0
) -> dict[str, Any]:
    """The trailing chunk OpenAI sends when ``stream_options.include_usage`` is set."""
    return chunk(
        None,
        usage={
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
    )


def citations_chunk(*urls: str) -> dict[str, Any]:
    """xAI's closing chunk after a live search: the usage plus ``citations``, the URLs it read."""
    body = usage_chunk(40, 6)
    body["citations"] = list(urls)
    return body


def text_chunks(*pieces: str, finish_reason: str = "stop") -> list[dict[str, Any]]:
    """Role chunk, one chunk per piece, then an empty delta carrying the finish reason."""
    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": piece}) for piece in pieces]
    out.append(chunk({}, finish_reason))
    return out


def reasoning_chunks(*pieces: str, field: str = "reasoning_content") -> list[dict[str, Any]]:
    """Reasoning deltas the way vLLM/DeepSeek (``reasoning_content``) or OpenRouter (``reasoning``) send them."""
    return [chunk({"role": "assistant", "content": None, field: piece}) for piece in pieces]


@dataclass(frozen=True)
class ScriptedToolCall:
    """A call the scripted model makes; ``pieces`` is its argument JSON cut where the stream cuts it."""

    id: str
    name: str
    pieces: Sequence[str]


def tool_call_chunks(index: int, call: ScriptedToolCall) -> list[dict[str, Any]]:
    """OpenAI's shape: id, type and name with empty arguments first, then bare argument fragments."""
    first = {
        "tool_calls": [
            {
                "index": index,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
        ]
    }
    out = [chunk(first)]
    out += [
        chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}) for piece in call.pieces
    ]
    return out


def tool_calls_chunks(*calls: ScriptedToolCall, text: str | None = None) -> list[dict[str, Any]]:
    """Optional preamble text, each call's fragments in turn, then ``finish_reason: tool_calls``."""
    out = [chunk({"role": "assistant", "content": text})]
    for index, call in enumerate(calls):
        out += tool_call_chunks(index, call)
    out.append(chunk({}, "tool_calls"))
    return out


def sse(
    chunks: Iterable[dict[str, Any] | str],
    *,
    done: bool = True,
    drop_after: int | None = None,
    delay: float = 0.0,
    headers: dict[str, str] | None = None,
) -> Reply:
    """An SSE reply: each chunk as a ``data:`` event (strings go out verbatim), then ``[DONE]``."""
    events = [SSEEvent(item if isinstance(item, str) else json.dumps(item), delay=delay) for item in chunks]
    if done:
        events.append(SSEEvent("[DONE]"))
    return Reply(sse=events, drop_after=drop_after, headers=dict(headers or {}))


def text_reply(*pieces: str, usage: tuple[int, int] | None = (12, 5), finish_reason: str = "stop") -> Reply:
    chunks = text_chunks(*pieces, finish_reason=finish_reason)
    if usage is not None:
        chunks.append(usage_chunk(*usage))
    return sse(chunks)


# --------------------------------------------------------------------------- errors


def error_reply(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
    return Reply(status=status, json_body=body, headers=dict(headers or {}))


def openai_error(
    message: str, *, type: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """OpenAI's error envelope, which most compatible servers copy."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def openai_context_error(allowed: int = 128000, requested: int = 130532) -> Reply:
    return error_reply(
        400,
        openai_error(
            f"This model's maximum context length is {allowed} tokens. However, your messages "
            f"resulted in {requested} tokens. Please reduce the length of the messages.",
            param="messages",
            code="context_length_exceeded",
        ),
    )


def llama_cpp_python_context_error(allowed: int = 512, prompt: int = 710, completion: int = 16) -> Reply:
    """llama-cpp-python's server (checked against 0.3.36): OpenAI wording with the split spelled out."""
    return error_reply(
        400,
        openai_error(
            f"This model's maximum context length is {allowed} tokens. However, you requested "
            f"{prompt + completion} tokens ({prompt} in the messages, {completion} in the completion). "
            "Please reduce the length of the messages or completion.",
            param="messages",
            code="context_length_exceeded",
        ),
    )


def llamacpp_context_error(n_prompt: int = 1200, n_ctx: int = 512) -> Reply:
    """llama.cpp's own ``llama-server``: numbers in the message and beside it."""
    return error_reply(
        400,
        {
            "error": {
                "code": 400,
                "message": f"request ({n_prompt} tokens) exceeds the available context size "
                f"({n_ctx} tokens), try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": n_prompt,
                "n_ctx": n_ctx,
            }
        },
    )


def llamacpp_context_error_fields_only(n_prompt: int = 1200, n_ctx: int = 512) -> Reply:
    """Older llama-server builds: a generic sentence, the numbers only as fields."""
    return error_reply(
        400,
        {
            "error": {
                "code": 400,
                "message": "the request exceeds the available context size, try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": n_prompt,
                "n_ctx": n_ctx,
            }
        },
    )


def llama_cpp_python_validation_error(field: str = "response_format") -> Reply:
    """llama-cpp-python answers a request its pydantic models reject with a 500 (0.3.36)."""
    if field == "response_format":
        detail = (
            "{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
            "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', "
            "'ctx': {'expected': \"'text' or 'json_object'\"}}"
        )
    else:
        detail = (
            "{'type': 'string_type', 'loc': ('body', 'messages', 2, "
            "'ChatCompletionRequestAssistantMessage', 'content'), "
            "'msg': 'Input should be a valid string', 'input': None}"
        )
    message = (
        f'1 validation error:\n  {detail}\n\n  File "llama_cpp/server/app.py", line 376, '
        "in create_chat_completion\n    POST /v1/chat/completions"
    )
    return error_reply(500, openai_error(message, type="internal_server_error"))


def vllm_context_error(allowed: int = 4096, prompt: int = 4000, completion: int = 1000) -> Reply:
    """vLLM's OpenAI server: a flat ``object: error`` body with a numeric code."""
    return error_reply(
        400,
        {
            "object": "error",
            "message": f"This model's maximum context length is {allowed} tokens. However, you requested "
            f"{prompt + completion} tokens ({prompt} in the messages, {completion} in the completion). "
            "Please reduce the length of the messages or completion.",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
    )


def groq_context_error() -> Reply:
    """Groq names the code but gives no numbers."""
    return error_reply(
        400,
        openai_error(
            "Please reduce the length of the messages or completion.",
            param="messages",
            code="context_length_exceeded",
        ),
    )


def openrouter_context_error(allowed: int = 131072, prompt: int = 7884, completion: int = 131072) -> Reply:
    """OpenRouter: "requested about N tokens", a numeric code and provider metadata."""
    return error_reply(
        400,
        {
            "error": {
                "message": f"This endpoint's maximum context length is {allowed} tokens. However, you "
                f"requested about {prompt + completion} tokens ({prompt} of text input, {completion} in "
                'the output). Please reduce the length of either one, or use the "middle-out" transform '
                "to compress your prompt automatically.",
                "code": 400,
                "metadata": {"provider_name": None},
            },
            "user_id": "user_loopback",
        },
    )


def rate_limited(retry_after: str | None = "7", *, retry_after_ms: str | None = None) -> Reply:
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    if retry_after_ms is not None:
        headers["retry-after-ms"] = retry_after_ms
    return error_reply(
        429,
        openai_error(
            "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. "
            "Please try again in 7s.",
            type="requests",
            code="rate_limit_exceeded",
        ),
        headers,
    )


def invalid_key(key_preview: str = "sk-SENT********3456") -> Reply:
    """OpenAI's 401, which echoes a masked form of the key."""
    return error_reply(
        401,
        openai_error(
            f"Incorrect API key provided: {key_preview}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        ),
    )


def server_error(
    status: int = 500, message: str = "The server had an error while processing your request."
) -> Reply:
    return error_reply(status, openai_error(message, type="server_error"))
