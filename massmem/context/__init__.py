"""Context management: token accounting, context windows, usage lines and compression.

* :mod:`~massmem.context.tokens` — :class:`TokenCounter` (tiktoken offline or a calibrated
  estimate, cached per message, learning from the provider's own counts);
* :mod:`~massmem.context.windows` — a model's window: learnt, configured, reported or tabled;
* :mod:`~massmem.context.usage` — :class:`ContextUsage`, the per-call "used / window" figure;
* :mod:`~massmem.context.compression` — summarise older messages and rebuild what is sent,
  never deleting what is stored;
* :mod:`~massmem.context.request` — what one call sends: the caller's :class:`TurnPlan`, the
  providers' :class:`ContextBlock`\\ s, the rendered messages;
* :mod:`~massmem.context.manager` — :class:`ContextManager`, one agent's context control:
  ``prepare`` a request (compressing proactively), ``recover`` from a context-length error,
  ``account`` for the call.

Each agent (:mod:`massmem.agents.agent`) has one manager, used before and after every model call.
"""

from massmem.context.compression import (
    CompressedView,
    CompressionReport,
    CompressionSettings,
    compress,
    render,
)
from massmem.context.manager import ContextManager
from massmem.context.request import ContextBlock, TurnContext, TurnPlan
from massmem.context.tokens import TokenCounter, estimate_message_tokens, estimate_tokens
from massmem.context.usage import ContextUsage
from massmem.context.windows import known_window, resolve_window

__all__ = [
    "CompressedView",
    "CompressionReport",
    "CompressionSettings",
    "ContextBlock",
    "ContextManager",
    "ContextUsage",
    "TokenCounter",
    "TurnContext",
    "TurnPlan",
    "compress",
    "estimate_message_tokens",
    "estimate_tokens",
    "known_window",
    "render",
    "resolve_window",
]
