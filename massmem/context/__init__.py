"""Context management: token accounting, context windows, usage lines and compression.

* :mod:`~massmem.context.tokens` — :class:`TokenCounter` (tiktoken offline or a calibrated
  estimate, cached per message, learning from the provider's own counts);
* :mod:`~massmem.context.windows` — a model's window: learnt, configured, reported or tabled;
* :mod:`~massmem.context.usage` — :class:`ContextUsage`, the per-call "used / window" figure;
* :mod:`~massmem.context.compression` — summarise older messages and rebuild what is sent,
  never deleting what is stored.

Agents (:mod:`massmem.agents.agent`) use these before and after every model call.
"""

from massmem.context.compression import (
    CompressedView,
    CompressionReport,
    CompressionSettings,
    compress,
    render,
)
from massmem.context.tokens import TokenCounter, estimate_message_tokens, estimate_tokens
from massmem.context.usage import ContextUsage
from massmem.context.windows import known_window, resolve_window

__all__ = [
    "CompressedView",
    "CompressionReport",
    "CompressionSettings",
    "ContextUsage",
    "TokenCounter",
    "compress",
    "estimate_message_tokens",
    "estimate_tokens",
    "known_window",
    "render",
    "resolve_window",
]
