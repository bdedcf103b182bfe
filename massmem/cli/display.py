"""Displays: consumers of the orchestrator's event stream.

The team loop never calls into these; the runner feeds each event to the
display it picked.  ``PlainDisplay`` writes one status line per happening to
stderr (good for logs and pipes) and streams the final answer to stdout;
``RichDisplay`` shows a live panel per agent on a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Protocol

from massmem.coordination.events import (
    AgentContextUsage,
    AgentFailed,
    AgentReasoningDelta,
    AgentRetry,
    AgentStarted,
    AgentTextDelta,
    AgentUpdateInjected,
    AnswerSubmitted,
    ContextCompressed,
    CoordinationFinished,
    EntryShared,
    Event,
    FinalAnswerDelta,
    MemoryAccessed,
    ProviderToolUsed,
    ShareRefused,
    VoteCast,
    WinnerSelected,
)

__all__ = ["Display", "NullDisplay", "PlainDisplay", "RichDisplay", "make_display"]


class Display(Protocol):
    def handle(self, event: Event) -> None: ...

    def note(self, text: str) -> None: ...

    def close(self) -> None: ...


def _one_line(text: str, width: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def describe(event: Event) -> str | None:
    """A one-line, human description of a status event (None for deltas)."""
    match event:
        case AgentStarted(agent_id=a, turn=t, protocol=p):
            return f"[{a}] turn {t} started ({p})"
        case AnswerSubmitted(agent_id=a, label=label, content=c, from_text=from_text):
            how = " (plain text taken as its answer)" if from_text else ""
            return f"[{a}] new answer {label}{how}: {_one_line(c, 60)}"
        case VoteCast(agent_id=a, target_agent_id=t, target_label=label, reason=r, implicit=imp):
            how = " (implicit: kept its own answer)" if imp else ""
            return f"[{a}] votes for {t}'s answer {label}{how}: {_one_line(r, 50)}"
        case AgentRetry(agent_id=a, reason=r, attempt=n, protocol=p):
            return f"[{a}] retry {n} ({p}): {_one_line(r, 70)}"
        case AgentUpdateInjected(agent_id=a, new_labels=labels, discarded_vote=d):
            extra = "; its outdated vote was not counted" if d else ""
            return f"[{a}] sees new answers {', '.join(labels)}{extra}"
        case AgentFailed(agent_id=a, reason=r):
            return f"[{a}] failed: {r}"
        case ContextCompressed(agent_id=a, reason=why, tokens_before=b, tokens_after=n, window=w):
            cause = "near the limit" if why == "proactive" else "over the provider's window; retrying once"
            size = f" of {w:,}" if w else ""
            cut = f"; injected context cut by {event.context_trimmed:,}" if event.context_trimmed else ""
            return f"[{a}] context compressed ({why}: {cause}): {b:,} → {n:,} tokens{size}{cut}"
        case AgentContextUsage(agent_id=a, turn=t, used=u, window=w, estimated=e):
            tag = "[estimate]" if e else "[API]"
            share = f"{u:,} / {w:,} tokens ({round(100 * u / w)}%)" if w else f"{u:,} / ? tokens"
            return f"[{a}] context after turn {t}: {share} {tag}"
        case EntryShared(agent_id=a, entry_type=kind, scope=scope, content=c, replaced=r):
            how = ", replaces its earlier one" if r else ""
            return f"[{a}] shared [{kind}] ({scope}{how}): {_one_line(c, 60)}"
        case ShareRefused(agent_id=a, reason=r):
            return f"[{a}] share refused: {_one_line(r, 70)}"
        case MemoryAccessed(agent_id=a, store=store, op="query", text=q, results=n, ms=ms):
            found = f"{n} result{'s' if n != 1 else ''}"
            return f"[{a}] memory {store}: {found} for {_one_line(q, 40)!r} ({ms:.0f} ms)"
        case MemoryAccessed(agent_id=a, store=store, text=t, ms=ms):
            return f"[{a}] memory {store}: added {_one_line(t, 50)} ({ms:.0f} ms)"
        case ProviderToolUsed(agent_id=a, tool=tool, detail=d):
            return f"[{a}] provider ran {tool}" + (f": {_one_line(d, 60)}" if d else "")
        case WinnerSelected(agent_id=a, label=label, votes=v, timed_out=t):
            late = " (timed out: best answer so far)" if t else ""
            return f"winner: {a} with answer {label} ({v} vote{'s' if v != 1 else ''}){late}"
    return None


class NullDisplay:
    def handle(self, event: Event) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


class PlainDisplay:
    """Status lines to ``status``; the final answer streamed to ``out``."""

    def __init__(self, out: IO[str] | None = None, status: IO[str] | None = None) -> None:
        self.out = out or sys.stdout
        self.status = status or sys.stderr
        self._final_started = False
        #: status lines that arrive while the final answer streams wait until it ends, so the
        #: answer is never cut by a status line on a terminal showing both streams
        self._held: list[str] = []

    def note(self, text: str) -> None:
        if self._final_started:
            self._held.append(text)
        else:
            print(text, file=self.status, flush=True)

    def handle(self, event: Event) -> None:
        match event:
            case FinalAnswerDelta(text=t):
                self._final_started = True
                self.out.write(t)
                self.out.flush()
            case CoordinationFinished(result=r):
                if not self._final_started:
                    self.out.write(r.final_answer)
                self.out.write("\n")
                self.out.flush()
                self._final_started = False
                for line in self._held:
                    self.note(line)
                self._held.clear()
            case _:
                status = describe(event)
                if status:
                    self.note(status)

    def close(self) -> None:
        pass


@dataclass
class _Pane:
    status: str = "waiting"
    text: list[str] = field(default_factory=list)
    answers: int = 0

    def tail(self, lines: int) -> str:
        body = "".join(self.text)
        return "\n".join(body.splitlines()[-lines:])


class RichDisplay:
    """A live panel per agent while they work, then the final answer streamed below."""

    def __init__(self, agent_ids: Sequence[str], *, show_reasoning: bool = False) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(stderr=False)
        self.show_reasoning = show_reasoning
        self.panes = {a: _Pane() for a in agent_ids}
        self.log: list[str] = []
        self._live = Live(self._render(), console=self.console, refresh_per_second=8, transient=False)
        self._live.start()
        self._live_on = True
        self._final_started = False

    def _render(self):  # type: ignore[no-untyped-def]
        from rich.console import Group
        from rich.panel import Panel
        from rich.table import Table
        from rich.text import Text

        grid = Table.grid(expand=True)
        for _ in self.panes:
            grid.add_column(ratio=1)
        height = max(4, min(12, (self.console.size.height - 8) // 2))
        grid.add_row(
            *[
                Panel(Text(p.tail(height)), title=f"{a} · {p.status}", height=height + 2)
                for a, p in self.panes.items()
            ]
        )
        return Group(grid, Text("\n".join(self.log[-6:]), style="dim"))

    def note(self, text: str) -> None:
        if self._live_on:
            self.log.append(text)
            self._live.update(self._render())
        else:
            self.console.print(text, style="dim")

    def handle(self, event: Event) -> None:
        match event:
            case AgentTextDelta(agent_id=a, text=t):
                self.panes[a].text.append(t)
            case AgentReasoningDelta(agent_id=a, text=t) if self.show_reasoning:
                self.panes[a].text.append(t)
            case AgentStarted(agent_id=a, turn=t):
                pane = self.panes[a]
                pane.status = f"working (turn {t})"
                pane.text.append(f"\n── turn {t} ──\n")
            case AnswerSubmitted(agent_id=a, label=label, content=c):
                pane = self.panes[a]
                pane.answers += 1
                pane.status = f"answered ({pane.answers})"
                pane.text.append(f"\n→ new answer {label}:\n{c.strip()}\n")
            case VoteCast(agent_id=a, target_agent_id=t, reason=r):
                self.panes[a].status = f"voted for {t}"
                self.panes[a].text.append(f"\n→ vote for {t}: {r.strip()}\n")
            case AgentFailed(agent_id=a, reason=r):
                self.panes[a].status = "failed"
                self.panes[a].text.append(f"\n✗ {r}\n")
            case EntryShared(agent_id=a, entry_type=kind, scope=scope, content=c):
                self.panes[a].text.append(f"\n⇪ shared [{kind}] ({scope}): {_one_line(c, 120)}\n")
            case ProviderToolUsed(agent_id=a, tool=tool, detail=d) if a in self.panes:
                self.panes[a].text.append(f"\n⚙ {tool}" + (f": {_one_line(d, 100)}" if d else "") + "\n")
            case MemoryAccessed(agent_id=a, store=store, op=op, results=n) if a in self.panes:
                what = f"{n} from" if op == "query" else "wrote to"
                self.panes[a].text.append(f"\n· memory: {what} {store}\n")
            case FinalAnswerDelta(text=t):
                self._stop_live()
                if not self._final_started:
                    self._final_started = True
                    self.console.rule(f"final answer · {event.agent_id}")
                self.console.out(t, end="", highlight=False)
                return
            case CoordinationFinished(result=r):
                self._stop_live()
                if not self._final_started:
                    self.console.rule(f"final answer · {r.winner}")
                    self.console.out(r.final_answer, highlight=False)
                else:
                    self.console.out("")
                return
        line = describe(event)
        if line:
            self.log.append(line)
        if self._live_on:
            self._live.update(self._render())

    def _stop_live(self) -> None:
        if self._live_on:
            self._live.update(self._render())
            self._live.stop()
            self._live_on = False

    def close(self) -> None:
        self._stop_live()


def make_display(mode: str, agent_ids: Sequence[str], *, show_reasoning: bool = False) -> Display:
    """``auto`` picks the live view on a terminal and plain lines elsewhere."""
    if mode == "none":
        return NullDisplay()
    if mode == "auto":
        mode = "rich" if sys.stdout.isatty() else "plain"
    if mode == "rich":
        return RichDisplay(agent_ids, show_reasoning=show_reasoning)
    return PlainDisplay()
