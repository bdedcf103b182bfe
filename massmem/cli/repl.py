"""Interactive mode: ask the team question after question, in one session.

* **Input.** A line ending with ``\\`` continues on the next line; a line starting with
  ``\"\"\"`` opens a block that ends at a line ending with ``\"\"\"``.  On a terminal the
  standard ``readline`` gives line editing and a history kept in
  ``MASSMEM_HOME/repl_history`` (loaded on the first prompt, not at start-up).  From a pipe
  (``massmem run -c X --interactive < questions.txt``) lines are read one by one, no
  prompt is printed, and stdout carries only answers and command output.
* **Keys.** Ctrl-C during a turn cancels that turn (every model call in flight is
  cancelled) and returns to the prompt; at the prompt it drops the line being typed.
  Ctrl-D (end of input) leaves with exit status 0.
* **State.** Every answered turn is saved to the session's state before the next prompt,
  so a crash loses at most the turn in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massmem.cli.session_runner import (
    EXIT_FAILED,
    EXIT_OK,
    RunOptions,
    announce,
    build_team,
    finish_quietly,
    make_turn_display,
    open_for,
)
from massmem.cli.signals import Terminated, interrupt_reason
from massmem.errors import MassmemError
from massmem.sessions.state import AgentState
from massmem.team.session import TeamSession, TurnNotSaved, check_question
from massmem.team.turns import result_as_dict, result_notes

if TYPE_CHECKING:
    from massmem.config.schema import TeamConfig
    from massmem.coordination.result import RunResult

__all__ = ["HELP", "InputReader", "Repl", "run_interactive"]

_NO_AGENT = AgentState()

PROMPT = "massmem> "
CONTINUATION = "   ...> "
BLOCK = '"""'
HISTORY_FILE = "repl_history"
HISTORY_LENGTH = 1000

HELP = """Commands:
  /help            this text
  /status          session, turns, agents and where the state is saved
  /history         the turns of this session (those before a /reset are marked)
  /context         token usage per agent (last turn, whole session, current conversation)
  /memory [query]  what persistent memory holds for this session (search with a query)
  /entries         shared entries in effect for the next question (the share tool)
  /sessions        recent sessions
  /reset           start over: earlier turns leave the context, agents' conversations empty
  /clear           clear the screen
  /quit            leave (Ctrl-D works too)
Input: end a line with \\ to continue it; wrap several lines in \"\"\" ... \"\"\".
Ctrl-C stops the current turn, not the session."""


def run_interactive(team: TeamConfig, options: RunOptions, *, first_question: str | None = None) -> int:
    """The read-answer loop: ask the team question after question; the exit status."""
    return Repl(team, options).run(first_question)


class InputReader:
    """Reads one logical input (a line, a ``\\``-continued line or a ``\"\"\"`` block)."""

    def __init__(self, *, tty: bool, history_path: Path | None = None, stream: Any = None) -> None:
        self.tty = tty
        self.history_path = history_path
        self.stream = stream if stream is not None else sys.stdin
        self._readline: Any = None
        self._readline_tried = False

    # -- physical lines -------------------------------------------------------------------
    def _load_history(self) -> None:
        self._readline_tried = True
        try:
            import readline
        except ImportError:  # pragma: no cover - platforms without readline
            return
        self._readline = readline
        readline.set_history_length(HISTORY_LENGTH)
        if self.history_path is not None and self.history_path.exists():
            with contextlib.suppress(OSError):
                readline.read_history_file(str(self.history_path))

    def _save_history(self) -> None:
        if self._readline is None or self.history_path is None:
            return
        with contextlib.suppress(OSError):
            self.history_path.parent.mkdir(parents=True, exist_ok=True)
            self._readline.write_history_file(str(self.history_path))

    def _line(self, prompt: str) -> str | None:
        """One physical line without its newline; ``None`` at end of input."""
        if self.tty:
            if not self._readline_tried:
                self._load_history()
            try:
                return input(prompt)
            except EOFError:
                return None
        line = self.stream.readline()
        if not line:
            return None
        return line[:-1] if line.endswith("\n") else line

    # -- logical inputs -------------------------------------------------------------------
    def read(self) -> str | None:
        """The next input, or ``None`` at end of input.  Ctrl-C raises ``KeyboardInterrupt``."""
        first = self._line(PROMPT)
        if first is None:
            return None
        try:
            if first.lstrip().startswith(BLOCK):
                return self._block(first.lstrip()[len(BLOCK) :])
            return self._continued(first)
        finally:
            self._save_history()

    def _continued(self, line: str) -> str:
        parts: list[str] = []
        while line.endswith("\\"):
            parts.append(line[:-1])
            more = self._line(CONTINUATION)
            if more is None:
                return "\n".join(parts)
            line = more
        parts.append(line)
        return "\n".join(parts)

    def _block(self, rest: str) -> str:
        if rest.rstrip().endswith(BLOCK):  # opened and closed on one line
            return rest.rstrip()[: -len(BLOCK)]
        lines = [rest] if rest.strip() else []
        while True:
            line = self._line(CONTINUATION)
            if line is None:
                break
            if line.rstrip().endswith(BLOCK):
                head = line.rstrip()[: -len(BLOCK)]
                if head.strip():
                    lines.append(head)
                break
            lines.append(line)
        return "\n".join(lines)


class Repl:
    """One interactive session: a reader, a built team, and the slash commands."""

    def __init__(self, team: TeamConfig, options: RunOptions) -> None:
        self.team = team
        self.options = options
        self.tty = sys.stdin.isatty()
        #: turns of this run that answered / failed (the exit status and the session's status)
        self.answered = 0
        self.failed = 0
        self.last_error = ""

    # -- output ---------------------------------------------------------------------------
    def say(self, text: str) -> None:
        """Command output: always stdout."""
        print(text, flush=True)

    def info(self, text: str) -> None:
        """Banners and notes: stdout on a terminal, stderr from a pipe (stdout keeps only answers)."""
        print(text, file=sys.stdout if self.tty else sys.stderr, flush=True)

    # -- loop -----------------------------------------------------------------------------
    def run(self, first_question: str | None = None) -> int:
        from massmem import paths

        session = open_for(self.team, self.options)
        reader = InputReader(tty=self.tty, history_path=paths.home() / HISTORY_FILE)
        status: str = "completed"
        error: str | None = None
        try:
            with asyncio.Runner() as runner:
                try:
                    built = build_team(self.team, session, self.options)
                except MassmemError:
                    if session.created:
                        # Refused before the team existed (a memory store locked elsewhere):
                        # leave no empty, failed session behind.
                        session.discard()
                        status = "discarded"
                    raise
                try:
                    self.info(
                        f"massmem interactive · {len(self.team.agents)} agents · /help for commands, "
                        "Ctrl-D to leave"
                    )
                    announce(session, self.info)
                    if first_question:
                        self._turn(runner, built, first_question)
                    self._loop(runner, reader, built)
                finally:
                    runner.run(built.close())
        except KeyboardInterrupt as exc:
            status, error = "interrupted", interrupt_reason(exc)
            raise
        except BaseException as exc:
            if status != "discarded":
                status, error = "failed", str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__
            raise
        finally:
            if status == "completed" and self.failed:
                # A turn that failed is not a completed session: every turn failing is a failure.
                status = "failed" if not self.answered else "completed"
                error = (
                    f"{self.failed} of {self.failed + self.answered} turn(s) failed; last: {self.last_error}"
                )
            if status == "completed":
                session.finish(status, error)  # type: ignore[arg-type]
            elif status != "discarded":
                finish_quietly(session, status, error)
        # Scripts reading answers from a pipe must see a failed turn in the exit status.
        return EXIT_FAILED if self.failed else EXIT_OK

    def _loop(self, runner: asyncio.Runner, reader: InputReader, built: TeamSession) -> None:
        while True:
            try:
                text = reader.read()
            except Terminated:
                raise
            except KeyboardInterrupt:
                # At the prompt Ctrl-C drops what was typed, like a shell.
                self.info("\n(input dropped; Ctrl-D or /quit leaves)")
                continue
            if text is None:
                if self.tty:
                    print()
                return
            question = text.strip()
            if not question:
                continue
            if question.startswith("/") and "\n" not in question:
                if self._command(question, built) == "quit":
                    return
                continue
            self._turn(runner, built, text)

    def _turn(self, runner: asyncio.Runner, built: TeamSession, question: str) -> None:
        display = make_turn_display(self.team, self.options)
        saved_before = built.session.state.last_turn
        try:
            result = runner.run(built.ask(check_question(question), display.handle))
        except TurnNotSaved as exc:
            # The answer exists but the disk refused it: show it, then stop (every later turn
            # would be lost the same way); the caller reports the error and exits 1.
            display.close()
            self._show(built, exc.result, not_saved=exc)
            raise
        except Terminated:
            display.close()
            raise  # SIGTERM ends the session, not just the turn
        except KeyboardInterrupt:
            display.close()
            if built.session.state.last_turn > saved_before:
                self.info("\n(interrupted while memory recorded the turn; the answer itself was saved)")
            else:
                self.info("\n(turn cancelled; the session goes on — earlier turns are intact)")
            return
        except MassmemError as exc:
            display.close()
            self.failed += 1
            self.last_error = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            if self.options.as_json:
                # One JSON line per question, failed ones included, so a reader can pair them up.
                failed = {"session_id": built.session.id, "turn": None, "question": question}
                print(json.dumps({**failed, "saved": False, "error": str(exc)}), flush=True)
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return
        display.close()
        self.answered += 1
        self._show(built, result)

    def _show(self, built: TeamSession, result: RunResult, *, not_saved: TurnNotSaved | None = None) -> None:
        """The answer of a finished turn (and its notes), as the output options ask."""
        state = built.session.state
        if self.options.as_json:
            history_turns = state.turns[-1].history_turns if state.turns else 0
            payload = result_as_dict(
                result,
                built.session.id,
                turn=state.last_turn if not_saved is None else None,
                history_turns=history_turns,
            )
            payload["saved"] = not_saved is None
            payload["error"] = str(not_saved) if not_saved is not None else None
            payload["notes"] = result_notes(result)
            print(json.dumps(payload), flush=True)
        elif self.options.display == "none":
            print(result.final_answer, flush=True)
        for note in result_notes(result):
            print(f"note: {note}", file=sys.stderr, flush=True)

    # -- slash commands -------------------------------------------------------------------
    def _command(self, line: str, built: TeamSession) -> str | None:
        name, _, arg = line.partition(" ")
        name = name.lower()
        handlers: dict[str, Callable[[TeamSession, str], str | None]] = {
            "/help": lambda b, a: self.say(HELP),
            "/quit": lambda b, a: "quit",
            "/exit": lambda b, a: "quit",
            "/status": self._status,
            "/history": self._history,
            "/context": self._context,
            "/memory": self._memory,
            "/entries": self._entries,
            "/sessions": self._sessions,
            "/reset": self._reset,
            "/clear": self._clear,
        }
        handler = handlers.get(name)
        if handler is None:
            self.say(f"unknown command {name}; /help lists them")
            return None
        try:
            return handler(built, arg.strip())
        except MassmemError as exc:
            self.say(f"error: {exc}")
            return None

    def _status(self, built: TeamSession, arg: str) -> None:
        session = built.session
        state = session.state
        agents = ", ".join(f"{a.id} ({a.backend.type}:{a.backend.model})" for a in self.team.agents)
        persistent = self.team.memory.enabled and self.team.memory.persistent_memory.enabled
        lines = [
            f"session   {session.id}",
            f"turns     {state.last_turn} in all, {built.turns_this_run} in this run, "
            f"{len(state.history())} in the team's context"
            + (f" (reset after turn {state.reset_after})" if state.reset_after else ""),
            f"next turn {state.next_turn}",
            f"agents    {agents}",
            f"memory    persistent {'on' if persistent else 'off'}",
            f"state     {session.path}",
        ]
        if state.turns:
            last = state.turns[-1]
            lines.insert(3, f"last      turn {last.number} won by {last.winner}")
        self.say("\n".join(lines))

    def _entries(self, built: TeamSession, arg: str) -> None:
        from massmem.memory.scoped_entries import effective_entries, render_entries

        state = built.session.state
        if not self.team.orchestrator.shared_entries.enabled:
            self.say("shared entries are off (orchestrator.shared_entries.enabled: true turns them on)")
            return
        entries = effective_entries(built.shared_entries(), state.next_turn)
        block = render_entries(entries, str, turn=state.next_turn)
        self.say(block or "no shared entries carry over to the next question (round-scoped ones end with it)")

    def _history(self, built: TeamSession, arg: str) -> None:
        state = built.session.state
        if not state.turns:
            self.say("No turns yet.")
            return
        for turn in state.turns:
            mark = "  (before /reset)" if turn.number <= state.reset_after else ""
            question = " ".join(turn.question.split())
            if len(question) > 60:
                question = question[:59] + "…"
            self.say(f"{turn.number:>3}. {question}  → {turn.winner}{mark}")

    def _context(self, built: TeamSession, arg: str) -> None:
        from massmem.context.tokens import estimate_message_tokens

        state = built.session.state
        last = state.turns[-1] if state.turns else None
        lines = []
        for agent in built.orchestrator.agents:
            mine = [a for t in state.turns for a in t.agents if a.agent_id == agent.id]
            total_in = sum(a.input_tokens for a in mine)
            total_out = sum(a.output_tokens for a in mine)
            last_usage = next((a for a in (last.agents if last else ()) if a.agent_id == agent.id), None)
            if last_usage is not None:
                mark = "~" if last_usage.estimated else ""
                last_text = f"{mark}{last_usage.input_tokens:,} in / {mark}{last_usage.output_tokens:,} out"
            else:
                last_text = "-"
            messages = agent.conversation.messages()
            window = getattr(agent, "context_window", None) or agent.backend.capabilities.context_window
            conversation = f"{len(messages)} messages, ~{estimate_message_tokens(messages):,} tokens"
            if window:
                conversation += f" of a {window:,}-token window"
            lines += [
                f"{agent.id}",
                f"  last turn   {last_text}",
                f"  session     {total_in:,} in / {total_out:,} out over {len(mine)} turn(s)",
                f"  context     {conversation}",
            ]
            usage = getattr(agent, "context_usage", None)
            if usage is not None and hasattr(usage, "line"):
                lines.append(f"  last call   {usage.line()}")
            compressions = len(state.agents.get(agent.id, _NO_AGENT).summaries)
            if compressions:
                lines.append(f"  compressed  {compressions} time(s) in this session")
        lines.append("(~ marks estimates: the server reported no usage)")
        self.say("\n".join(lines))

    def _memory(self, built: TeamSession, arg: str) -> None:
        from massmem.cli import memory_cmd

        memory = self.team.memory
        if not (memory.enabled and memory.persistent_memory.enabled):
            self.say(
                "Persistent memory is off for this team "
                "(set memory.persistent_memory.enabled: true in the config to turn it on)."
            )
            return
        scope = memory.persistent_memory.session_name or built.session.id
        self.say(memory_cmd.render_for_repl(self.team, scope, arg or None))

    def _sessions(self, built: TeamSession, arg: str) -> None:
        from massmem.cli.sessions_cmd import render_sessions

        self.say(render_sessions(limit=10))

    def _reset(self, built: TeamSession, arg: str) -> None:
        built.reset()
        self.say(
            f"Reset: the next question starts fresh (turns 1-{built.session.state.reset_after} stay recorded "
            "but leave the team's context; every agent's conversation is empty)."
            if built.session.state.reset_after
            else "Reset: nothing to forget yet; every agent's conversation is empty."
        )

    def _clear(self, built: TeamSession, arg: str) -> None:
        if sys.stdout.isatty():
            sys.stdout.write("\033[2J\033[H")
            sys.stdout.flush()
