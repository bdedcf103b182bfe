"""The per-call context line: how full an agent's window is, and how we know.

After every model call an agent records a :class:`ContextUsage`: the tokens its context
now holds (what was sent plus the reply, which the next call sends back), the window, and
whether the figure is the provider's own (``api``) or massmem's count (``estimate``).
Displays render :meth:`ContextUsage.line`::

    3,210 / 8,192 tokens (39%) [API]
    1,904 / ? tokens [estimate]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ContextUsage", "UsageSource", "format_usage"]

UsageSource = Literal["api", "estimate"]


def format_usage(used: int, window: int | None, estimated: bool) -> str:
    tag = "[estimate]" if estimated else "[API]"
    if not window:
        return f"{used:,} / ? tokens {tag}"
    return f"{used:,} / {window:,} tokens ({round(100 * used / window)}%) {tag}"


@dataclass(frozen=True, slots=True)
class ContextUsage:
    """One call's context figure.  ``sent``: the prompt alone; ``used``: prompt plus reply."""

    agent_id: str
    used: int
    window: int | None
    source: UsageSource
    sent: int = 0
    kind: Literal["context_usage"] = "context_usage"

    @property
    def estimated(self) -> bool:
        return self.source == "estimate"

    @property
    def fraction(self) -> float | None:
        return self.used / self.window if self.window else None

    def line(self) -> str:
        return format_usage(self.used, self.window, self.estimated)
