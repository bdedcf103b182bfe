"""Token estimates for when a provider reports no usage.

Some servers (llama-cpp-python among them) send no usage with streamed answers.
massmem still accounts for every call, marking such figures ``estimated``.  The
estimate is deliberately cheap — about four characters per token for English
text, with a small per-message overhead — and is replaced by the provider's own
numbers whenever they arrive.
"""

from __future__ import annotations

from collections.abc import Sequence

from massmem.messages import AssistantMessage, Message, ToolResultMessage

__all__ = ["estimate_message_tokens", "estimate_tokens"]

#: tokens a chat template adds around each message (role markers, separators)
MESSAGE_OVERHEAD = 4


def estimate_tokens(text: str) -> int:
    if not text:
        return 0
    return max(1, (len(text) + 3) // 4)


def estimate_message_tokens(messages: Sequence[Message]) -> int:
    total = 0
    for message in messages:
        total += MESSAGE_OVERHEAD + estimate_tokens(getattr(message, "content", "") or "")
        if isinstance(message, AssistantMessage):
            total += sum(estimate_tokens(c.name) + estimate_tokens(c.raw_arguments) for c in message.tool_calls)
        elif isinstance(message, ToolResultMessage):
            total += estimate_tokens(message.name)
    return total
