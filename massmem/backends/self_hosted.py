"""What self-hosted Chat Completions servers do differently, and how massmem finds out.

Cloud APIs speak the reference protocol; servers people run themselves drift
from it, and the Chat Completions backend adapts once per server and
remembers.  The quirks live here so the backend reads as the protocol:

* **The llama-cpp-python dialect** (:data:`Dialect`,
  :func:`speaks_llama_cpp_python`): its server answers an OpenAI-shaped request
  it reads differently with a 500 "validation error"; from then on it is
  talked to in its own dialect.
* **No ``stream_options``** (:func:`rejects_stream_options`): some servers
  refuse ``include_usage``; they are asked again without it.
* **Errors hidden in an empty stream, and no usage when streaming**
  (:func:`preflight_prompt_tokens`, :func:`probe_error`,
  :func:`counted_usage`): llama-cpp-python answers a context overflow with an
  empty ``200`` stream.  A one-token, non-streamed copy of the request (the
  preflight) surfaces the error and the prompt's token count; the prompt is
  cached server-side, so the real request reuses it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from massmem.backends.chat_stream import as_int
from massmem.errors import BackendError, ProviderUnavailable
from massmem.messages import Usage

if TYPE_CHECKING:
    from openai import AsyncOpenAI

__all__ = [
    "Dialect",
    "MaxTokensField",
    "counted_usage",
    "preflight_prompt_tokens",
    "probe_error",
    "rejects_stream_options",
    "speaks_llama_cpp_python",
]

#: Which flavour of the protocol the server speaks.  ``openai`` is the reference shape every
#: compatible server accepts.  ``llama-cpp-python`` differs in two places (checked against its
#: 0.3.36 server): it rejects ``response_format`` type ``json_schema`` but grammar-constrains
#: ``{"type": "json_object", "schema": ...}``, and it rejects ``content: null`` on an assistant
#: message that carries tool calls (it wants a string).
Dialect = Literal["openai", "llama-cpp-python"]

#: OpenAI's reasoning models refuse ``max_tokens``; every compatible server accepts it.
MaxTokensField = Literal["max_tokens", "max_completion_tokens"]


def speaks_llama_cpp_python(exc: Exception) -> bool:
    """llama-cpp-python's validation error for an OpenAI-shaped request it reads differently.

    Its server answers 500 "validation error" naming ``'json_object'`` (no ``json_schema``
    response format) or its ``ChatCompletionRequestAssistantMessage`` model (``content: null``);
    a server that says so is talked to in its own dialect from then on.
    """
    if getattr(exc, "status_code", None) not in (400, 422, 500):
        return False
    text = str(getattr(exc, "message", "")) + str(getattr(exc, "body", ""))
    return "validation error" in text and (
        "'json_object'" in text or "ChatCompletionRequestAssistantMessage" in text
    )


def rejects_stream_options(exc: Exception) -> bool:
    status = getattr(exc, "status_code", None)
    if status not in (400, 422):
        return False
    text = f"{getattr(exc, 'message', '')} {getattr(exc, 'body', '')}".lower()
    return "stream_options" in text or "include_usage" in text


async def preflight_prompt_tokens(
    client: AsyncOpenAI, params: dict[str, Any], max_tokens_field: MaxTokensField
) -> int | None:
    """Send a one-token, non-streamed copy of ``params``; the prompt's token count if reported."""
    probe = {k: v for k, v in params.items() if k not in ("stream", "max_tokens", "max_completion_tokens")}
    probe[max_tokens_field] = 1
    response = await client.chat.completions.create(**probe)
    usage = getattr(response, "usage", None)
    if usage is None:
        return None
    return as_int(getattr(usage, "prompt_tokens", 0)) or None


async def probe_error(
    client: AsyncOpenAI,
    params: dict[str, Any],
    max_tokens_field: MaxTokensField,
    translate: Callable[[BaseException], BackendError],
) -> BackendError | None:
    """The error a non-streamed one-token copy of the request meets (None if it succeeds).

    The server may have dropped the connection the empty stream came on, so a transport
    failure gets one more try on a fresh connection before it counts as the answer.
    """
    for attempt in (1, 2):
        try:
            await preflight_prompt_tokens(client, params, max_tokens_field)
        except Exception as exc:
            error = translate(exc)
            if attempt == 1 and isinstance(error, ProviderUnavailable):
                continue
            return error
        return None
    return None


def counted_usage(prompt_tokens: int | None, output_chunks: int) -> Usage | None:
    """Usage from a preflight's prompt count plus one token per output chunk (llama-cpp-python)."""
    if prompt_tokens is None:
        return None
    return Usage(input_tokens=prompt_tokens, output_tokens=output_chunks)
