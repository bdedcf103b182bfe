"""Anthropic Messages API wire format for the loopback server.

What ``POST /v1/messages`` with ``"stream": true`` really sends: named SSE
events ``message_start`` → (``content_block_start`` → ``content_block_delta``* →
``content_block_stop``)* → ``message_delta`` → ``message_stop``, with ``ping``
events sprinkled in.  Text arrives as ``text_delta``, tool input as
``input_json_delta`` fragments of a JSON string, extended thinking as
``thinking_delta`` followed by a ``signature_delta``.  Usage is split: input
tokens in ``message_start``, the cumulative output count in ``message_delta``.

Errors are ``{"type": "error", "error": {"type": ..., "message": ...}}``, both
as HTTP bodies and as an ``event: error`` in the middle of a stream.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.loopback import Reply, SSEEvent

__all__ = [
    "MessageStream",
    "auth_error",
    "context_length_error",
    "error_body",
    "error_reply",
    "malformed_event_reply",
    "overloaded_error",
    "rate_limit_error",
    "server_error",
    "text_reply",
    "unavailable_error",
]


class MessageStream:
    """Accumulates one streamed message in the order Anthropic sends its events."""

    def __init__(
        self,
        model: str = "claude-sonnet-4-6",
        message_id: str = "msg_loopback",
        input_tokens: int = 21,
        cache_read_input_tokens: int = 0,
    ) -> None:
        self.events: list[SSEEvent] = []
        self._index = 0
        self._emit(
            "message_start",
            {
                "message": {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": input_tokens,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": cache_read_input_tokens,
                        "output_tokens": 1,
                    },
                }
            },
        )
        self._emit("ping", {})

    def _emit(self, name: str, payload: dict[str, Any], delay: float = 0.0) -> None:
        self.events.append(SSEEvent(data=json.dumps({"type": name, **payload}), event=name, delay=delay))

    def _block(self, start: dict[str, Any], deltas: list[dict[str, Any]], delay: float = 0.0) -> None:
        index = self._index
        self._index += 1
        self._emit("content_block_start", {"index": index, "content_block": start})
        for delta in deltas:
            self._emit("content_block_delta", {"index": index, "delta": delta}, delay=delay)
        self._emit("content_block_stop", {"index": index})

    def thinking(self, *chunks: str, signature: str = "EqQBCkYIARgCIkBsig") -> MessageStream:
        deltas = [{"type": "thinking_delta", "thinking": c} for c in chunks]
        deltas.append({"type": "signature_delta", "signature": signature})
        self._block({"type": "thinking", "thinking": "", "signature": ""}, deltas)
        return self

    def text(self, *chunks: str, delay: float = 0.0) -> MessageStream:
        self._block({"type": "text", "text": ""}, [{"type": "text_delta", "text": c} for c in chunks], delay)
        return self

    def tool_use(
        self, name: str, arguments: Any, tool_id: str = "toolu_01", pieces: int = 3
    ) -> MessageStream:
        raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
        step = max(1, -(-len(raw) // max(1, pieces)))
        # The first delta is often empty: Anthropic opens the JSON stream before any content.
        fragments = [""] + [raw[i : i + step] for i in range(0, len(raw), step)]
        self._block(
            {"type": "tool_use", "id": tool_id, "name": name, "input": {}},
            [{"type": "input_json_delta", "partial_json": f} for f in fragments],
        )
        return self

    def web_search(self, query: str, tool_id: str = "srvtoolu_01") -> MessageStream:
        """A search Anthropic runs itself: a ``server_tool_use`` block, then its result block."""
        self._block(
            {"type": "server_tool_use", "id": tool_id, "name": "web_search", "input": {}},
            [{"type": "input_json_delta", "partial_json": f} for f in ("", json.dumps({"query": query}))],
        )
        result = {
            "type": "web_search_tool_result",
            "tool_use_id": tool_id,
            "content": [
                {
                    "type": "web_search_result",
                    "url": "https://example.org/massmem",
                    "title": "massmem",
                    "encrypted_content": "EqgfCioIARgBIiQ3YTAw",
                    "page_age": None,
                }
            ],
        }
        self._block(result, [])
        return self

    def stop(self, stop_reason: str = "end_turn", output_tokens: int = 9) -> MessageStream:
        self._emit(
            "message_delta",
            {
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            },
        )
        self._emit("message_stop", {})
        return self

    def error(self, error_type: str = "overloaded_error", message: str = "Overloaded") -> MessageStream:
        """An ``event: error`` in the middle of the stream, as Anthropic sends when overloaded mid-answer."""
        self.events.append(SSEEvent(data=json.dumps(error_body(error_type, message)), event="error"))
        return self

    def reply(self, *, drop_after: int | None = None) -> Reply:
        return Reply(sse=list(self.events), drop_after=drop_after, headers={"request-id": "req_loopback"})


def text_reply(*chunks: str, model: str = "claude-sonnet-4-6", output_tokens: int = 9) -> Reply:
    return MessageStream(model).text(*chunks).stop(output_tokens=output_tokens).reply()


# -- errors -----------------------------------------------------------------------------------


def error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}, "request_id": "req_loopback"}


def error_reply(status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status=status, json_body=error_body(error_type, message), headers=dict(headers or {}))


def rate_limit_error(retry_after: str = "1") -> Reply:
    return error_reply(
        429,
        "rate_limit_error",
        "This request would exceed the rate limit for your organization of 50 input tokens per minute.",
        headers={"retry-after": retry_after, "anthropic-ratelimit-input-tokens-remaining": "0"},
    )


def server_error() -> Reply:
    return error_reply(500, "api_error", "Internal server error")


def unavailable_error() -> Reply:
    return error_reply(503, "api_error", "Service unavailable")


def overloaded_error() -> Reply:
    return error_reply(529, "overloaded_error", "Overloaded")


def auth_error() -> Reply:
    return error_reply(401, "authentication_error", "invalid x-api-key")


def context_length_error(requested: int = 210_000, allowed: int = 200_000) -> Reply:
    return error_reply(
        400, "invalid_request_error", f"prompt is too long: {requested} tokens > {allowed} maximum"
    )


def malformed_event_reply(model: str = "claude-sonnet-4-6") -> Reply:
    stream = MessageStream(model)
    return Reply(
        sse=[
            stream.events[0],
            SSEEvent(
                data='{"type": "content_block_delta", "index": 0, "delta": {', event="content_block_delta"
            ),
        ]
    )
