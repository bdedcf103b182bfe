"""OpenAI Responses API wire format for the loopback server.

Builds :class:`Reply` objects shaped like what ``POST /v1/responses`` with
``stream: true`` really sends: named SSE events (``event: response.output_text.delta``)
whose JSON carries the same ``type`` and a growing ``sequence_number``, output
items announced with ``response.output_item.added`` and closed with
``response.output_item.done``, and a final ``response.completed`` (or
``response.failed`` / ``response.incomplete``) that carries the whole response
with its usage.  No ``[DONE]`` sentinel: the Responses stream simply ends.

Error bodies follow OpenAI's ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.loopback import Reply, SSEEvent

__all__ = [
    "ResponsesStream",
    "auth_error",
    "context_length_error",
    "error_reply",
    "malformed_event_reply",
    "rate_limit_error",
    "server_error",
    "text_reply",
    "unavailable_error",
]


class ResponsesStream:
    """Accumulates one streamed response, event by event, in the order OpenAI sends them."""

    def __init__(self, model: str = "gpt-5-mini", response_id: str = "resp_loopback") -> None:
        self.model = model
        self.response_id = response_id
        self.events: list[SSEEvent] = []
        self.output: list[dict[str, Any]] = []
        self._seq = 0
        self._emit("response.created", {"response": self._response("in_progress", output=[])})
        self._emit("response.in_progress", {"response": self._response("in_progress", output=[])})

    # -- low level ------------------------------------------------------------------------------
    def _emit(self, event_type: str, payload: dict[str, Any], delay: float = 0.0) -> None:
        body = {"type": event_type, "sequence_number": self._seq, **payload}
        self._seq += 1
        self.events.append(SSEEvent(data=json.dumps(body), event=event_type, delay=delay))

    def _response(
        self,
        status: str,
        *,
        output: list[dict[str, Any]] | None = None,
        usage: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        incomplete_details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": 1_760_000_000,
            "status": status,
            "model": self.model,
            "output": list(self.output if output is None else output),
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "error": error,
            "incomplete_details": incomplete_details,
            "usage": usage,
        }

    # -- output items ---------------------------------------------------------------------------
    def text(self, *chunks: str, delay: float = 0.0) -> ResponsesStream:
        """An assistant message whose text arrives in ``chunks``."""
        index = len(self.output)
        item_id = f"msg_{index}"
        self._emit(
            "response.output_item.added",
            {
                "output_index": index,
                "item": {
                    "id": item_id,
                    "type": "message",
                    "status": "in_progress",
                    "role": "assistant",
                    "content": [],
                },
            },
        )
        self._emit(
            "response.content_part.added",
            {
                "item_id": item_id,
                "output_index": index,
                "content_index": 0,
                "part": {"type": "output_text", "text": "", "annotations": []},
            },
        )
        for chunk in chunks:
            self._emit(
                "response.output_text.delta",
                {
                    "item_id": item_id,
                    "output_index": index,
                    "content_index": 0,
                    "delta": chunk,
                    "logprobs": [],
                },
                delay=delay,
            )
        full = "".join(chunks)
        self._emit(
            "response.output_text.done",
            {"item_id": item_id, "output_index": index, "content_index": 0, "text": full, "logprobs": []},
        )
        part = {"type": "output_text", "text": full, "annotations": []}
        self._emit(
            "response.content_part.done",
            {"item_id": item_id, "output_index": index, "content_index": 0, "part": part},
        )
        item = {
            "id": item_id,
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [part],
        }
        self._emit("response.output_item.done", {"output_index": index, "item": item})
        self.output.append(item)
        return self

    def reasoning(self, *chunks: str) -> ResponsesStream:
        """A reasoning item whose summary text arrives in ``chunks`` (reasoning.summary was requested)."""
        index = len(self.output)
        item_id = f"rs_{index}"
        self._emit(
            "response.output_item.added",
            {"output_index": index, "item": {"id": item_id, "type": "reasoning", "summary": []}},
        )
        self._emit(
            "response.reasoning_summary_part.added",
            {
                "item_id": item_id,
                "output_index": index,
                "summary_index": 0,
                "part": {"type": "summary_text", "text": ""},
            },
        )
        for chunk in chunks:
            self._emit(
                "response.reasoning_summary_text.delta",
                {"item_id": item_id, "output_index": index, "summary_index": 0, "delta": chunk},
            )
        full = "".join(chunks)
        self._emit(
            "response.reasoning_summary_text.done",
            {"item_id": item_id, "output_index": index, "summary_index": 0, "text": full},
        )
        self._emit(
            "response.reasoning_summary_part.done",
            {
                "item_id": item_id,
                "output_index": index,
                "summary_index": 0,
                "part": {"type": "summary_text", "text": full},
            },
        )
        item = {"id": item_id, "type": "reasoning", "summary": [{"type": "summary_text", "text": full}]}
        self._emit("response.output_item.done", {"output_index": index, "item": item})
        self.output.append(item)
        return self

    def web_search_call(self, query: str) -> ResponsesStream:
        """A ``web_search`` the provider runs itself: its own item and progress events, no arguments."""
        index = len(self.output)
        item_id = f"ws_{index}"
        self._emit(
            "response.output_item.added",
            {
                "output_index": index,
                "item": {"id": item_id, "type": "web_search_call", "status": "in_progress"},
            },
        )
        for stage in ("in_progress", "searching", "completed"):
            self._emit(f"response.web_search_call.{stage}", {"item_id": item_id, "output_index": index})
        item = {
            "id": item_id,
            "type": "web_search_call",
            "status": "completed",
            "action": {"type": "search", "query": query},
        }
        self._emit("response.output_item.done", {"output_index": index, "item": item})
        self.output.append(item)
        return self

    def function_call(
        self, name: str, arguments: Any, call_id: str = "call_1", pieces: int = 3
    ) -> ResponsesStream:
        """A function call whose JSON arguments stream in ``pieces`` deltas."""
        raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
        index = len(self.output)
        item_id = f"fc_{index}"
        base = {"id": item_id, "type": "function_call", "call_id": call_id, "name": name}
        self._emit(
            "response.output_item.added",
            {"output_index": index, "item": {**base, "arguments": "", "status": "in_progress"}},
        )
        step = max(1, -(-len(raw) // max(1, pieces)))
        for start in range(0, len(raw), step):
            self._emit(
                "response.function_call_arguments.delta",
                {"item_id": item_id, "output_index": index, "delta": raw[start : start + step]},
            )
        self._emit(
            "response.function_call_arguments.done",
            {"item_id": item_id, "output_index": index, "arguments": raw, "name": name},
        )
        item = {**base, "arguments": raw, "status": "completed"}
        self._emit("response.output_item.done", {"output_index": index, "item": item})
        self.output.append(item)
        return self

    # -- endings --------------------------------------------------------------------------------
    def completed(
        self,
        input_tokens: int = 12,
        output_tokens: int = 7,
        reasoning_tokens: int = 0,
        cached_tokens: int = 0,
    ) -> ResponsesStream:
        usage = {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": cached_tokens, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "total_tokens": input_tokens + output_tokens,
        }
        self._emit("response.completed", {"response": self._response("completed", usage=usage)})
        return self

    def incomplete(self, reason: str = "max_output_tokens", output_tokens: int = 16) -> ResponsesStream:
        usage = {
            "input_tokens": 10,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 10 + output_tokens,
        }
        self._emit(
            "response.incomplete",
            {"response": self._response("incomplete", usage=usage, incomplete_details={"reason": reason})},
        )
        return self

    def failed(
        self, code: str = "server_error", message: str = "The model failed to generate a response."
    ) -> ResponsesStream:
        self._emit(
            "response.failed",
            {"response": self._response("failed", error={"code": code, "message": message})},
        )
        return self

    def error(self, message: str, code: str | None = None) -> ResponsesStream:
        """The top-level ``error`` event OpenAI sends when a stream breaks on its side."""
        self._emit("error", {"code": code, "message": message, "param": None})
        return self

    def reply(self, *, drop_after: int | None = None, headers: dict[str, str] | None = None) -> Reply:
        return Reply(sse=list(self.events), drop_after=drop_after, headers=dict(headers or {}))


def text_reply(*chunks: str, model: str = "gpt-5-mini", **usage: int) -> Reply:
    """A plain streamed text answer, completed with usage."""
    return ResponsesStream(model).text(*chunks).completed(**usage).reply()


# -- error bodies ------------------------------------------------------------------------------


def error_reply(
    status: int,
    message: str,
    *,
    type: str,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    return Reply(
        status=status,
        json_body={"error": {"message": message, "type": type, "param": param, "code": code}},
        headers=dict(headers or {}),
    )


def rate_limit_error(retry_after: str = "1") -> Reply:
    return error_reply(
        429,
        "Rate limit reached for gpt-5-mini in organization org-loopback on tokens per min (TPM): "
        "Limit 30000, Used 29500, Requested 900. Please try again in 1s.",
        type="tokens",
        code="rate_limit_exceeded",
        headers={"retry-after": retry_after, "x-ratelimit-reset-tokens": "1s"},
    )


def server_error() -> Reply:
    return error_reply(
        500, "The server had an error while processing your request. Sorry about that!", type="server_error"
    )


def unavailable_error() -> Reply:
    return error_reply(
        503, "The engine is currently overloaded, please try again later.", type="server_error"
    )


def auth_error(shown_key: str = "sk-SENTI**********************LOOP") -> Reply:
    """OpenAI's 401 quotes a masked form of the key; the backend must not repeat even that."""
    return error_reply(
        401,
        f"Incorrect API key provided: {shown_key}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        type="invalid_request_error",
        code="invalid_api_key",
    )


def context_length_error(requested: int | None = None, allowed: int | None = None) -> Reply:
    """The Responses API wording; with numbers, the Chat Completions wording that carries them."""
    if requested is not None and allowed is not None:
        message = (
            f"This model's maximum context length is {allowed} tokens. However, your messages resulted in "
            f"{requested} tokens. Please reduce the length of the messages."
        )
    else:
        message = (
            "Your input exceeds the context window of this model. Please adjust your input and try again."
        )
    return error_reply(
        400, message, type="invalid_request_error", code="context_length_exceeded", param="input"
    )


def malformed_event_reply(model: str = "gpt-5-mini") -> Reply:
    """A stream whose second event is not JSON."""
    stream = ResponsesStream(model)
    events = [stream.events[0], SSEEvent(data="{not json", event="response.output_text.delta")]
    return Reply(sse=events)
