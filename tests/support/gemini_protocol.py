"""Gemini ``streamGenerateContent?alt=sse`` wire format for the loopback server.

Gemini streams unnamed SSE events (``data: {...}``), each a whole
``GenerateContentResponse`` in camelCase: ``candidates[0].content.parts`` hold
text parts (``"thought": true`` marks thinking), ``functionCall`` parts carry
complete ``args`` objects (optionally with a ``thoughtSignature``), the last
chunk has ``finishReason``, and ``usageMetadata`` is a running total repeated on
chunks.  There is no end sentinel.

Errors are Google RPC bodies: ``{"error": {"code", "message", "status",
"details"}}``; a rejected key is a 400 ``INVALID_ARGUMENT`` with reason
``API_KEY_INVALID``, a quota hit a 429 ``RESOURCE_EXHAUSTED`` with a
``RetryInfo`` detail.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.support.loopback import Reply, SSEEvent

__all__ = [
    "GeminiStream",
    "auth_error",
    "context_length_error",
    "error_body",
    "error_reply",
    "malformed_event_reply",
    "rate_limit_error",
    "server_error",
    "text_reply",
    "unavailable_error",
]


class GeminiStream:
    """Accumulates the chunks of one streamed answer."""

    def __init__(
        self, model: str = "gemini-2.5-flash", prompt_tokens: int = 8, response_id: str = "resp-loopback"
    ):
        self.model = model
        self.prompt_tokens = prompt_tokens
        self.response_id = response_id
        self.events: list[SSEEvent] = []
        self.output_tokens = 0
        self.thought_tokens = 0

    def _usage(self) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "promptTokenCount": self.prompt_tokens,
            "candidatesTokenCount": self.output_tokens,
            "totalTokenCount": self.prompt_tokens + self.output_tokens + self.thought_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": self.prompt_tokens}],
        }
        if self.thought_tokens:
            usage["thoughtsTokenCount"] = self.thought_tokens
        return usage

    def _chunk(
        self,
        parts: list[dict[str, Any]],
        finish: str | None = None,
        delay: float = 0.0,
        grounding: dict[str, Any] | None = None,
    ) -> None:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if grounding is not None:
            candidate["groundingMetadata"] = grounding
        if finish:
            candidate["finishReason"] = finish
        body = {
            "candidates": [candidate],
            "usageMetadata": self._usage(),
            "modelVersion": self.model,
            "responseId": self.response_id,
        }
        self.events.append(SSEEvent(data=json.dumps(body), delay=delay))

    def thought(self, *chunks: str) -> GeminiStream:
        for chunk in chunks:
            self.thought_tokens += 2
            self._chunk([{"text": chunk, "thought": True}])
        return self

    def text(self, *chunks: str, delay: float = 0.0) -> GeminiStream:
        for chunk in chunks:
            self.output_tokens += 1
            self._chunk([{"text": chunk}], delay=delay)
        return self

    def function_call(
        self,
        name: str,
        args: dict[str, Any],
        call_id: str | None = None,
        signature: bytes | None = None,
    ) -> GeminiStream:
        call: dict[str, Any] = {"name": name, "args": args}
        if call_id:
            call["id"] = call_id
        part: dict[str, Any] = {"functionCall": call}
        if signature is not None:
            part["thoughtSignature"] = base64.b64encode(signature).decode("ascii")
        self.output_tokens += 3
        self._chunk([part])
        return self

    def code_execution(self, code: str, output: str) -> GeminiStream:
        """Code Google ran itself: an ``executableCode`` part, then its ``codeExecutionResult``."""
        self.output_tokens += 4
        self._chunk([{"executableCode": {"language": "PYTHON", "code": code}}])
        self._chunk([{"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": output}}])
        return self

    def grounded_text(self, text: str, *queries: str) -> GeminiStream:
        """Text grounded by Google Search: the queries it ran ride in ``groundingMetadata``."""
        self.output_tokens += 1
        grounding = {
            "webSearchQueries": list(queries),
            "groundingChunks": [{"web": {"uri": "https://example.org/massmem", "title": "example.org"}}],
        }
        self._chunk([{"text": text}], grounding=grounding)
        return self

    def finish(self, reason: str = "STOP") -> GeminiStream:
        """The closing chunk: Gemini sends the finish reason with an empty text part."""
        self._chunk([{"text": ""}], finish=reason)
        return self

    def error(
        self, code: int = 503, status: str = "UNAVAILABLE", message: str = "The model is overloaded."
    ) -> GeminiStream:
        """An error object in the middle of the stream."""
        self.events.append(SSEEvent(data=json.dumps(error_body(code, status, message))))
        return self

    def reply(self, *, drop_after: int | None = None) -> Reply:
        return Reply(sse=list(self.events), drop_after=drop_after)


def text_reply(*chunks: str, model: str = "gemini-2.5-flash") -> Reply:
    return GeminiStream(model).text(*chunks).finish().reply()


# -- errors -----------------------------------------------------------------------------------


def error_body(
    code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def error_reply(
    code: int,
    status: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    return Reply(
        status=code, json_body=error_body(code, status, message, details), headers=dict(headers or {})
    )


def rate_limit_error(retry_delay: str = "1s") -> Reply:
    return error_reply(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests"}
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
        ],
    )


def server_error() -> Reply:
    return error_reply(
        500,
        "INTERNAL",
        "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    )


def unavailable_error() -> Reply:
    return error_reply(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")


def auth_error() -> Reply:
    """What Gemini really answers to a wrong key: 400, not 401."""
    return error_reply(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ],
    )


def unauthenticated_error() -> Reply:
    return error_reply(
        401,
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
        "valid authentication credential.",
    )


def context_length_error(requested: int = 1_200_000, allowed: int = 1_048_576) -> Reply:
    return error_reply(
        400,
        "INVALID_ARGUMENT",
        f"The input token count ({requested}) exceeds the maximum number of tokens allowed ({allowed}).",
    )


def malformed_event_reply(model: str = "gemini-2.5-flash") -> Reply:
    stream = GeminiStream(model).text("Hel")
    return Reply(sse=[*stream.events, SSEEvent(data='{"candidates": [{"content": ')])
