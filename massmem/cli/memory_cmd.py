"""``massmem memory list|search|show|forget|export``: see every memory, where it came from, and delete it.

Every memory is shown with its origin — agent, turn and memory session (the config's
``memory.persistent_memory.session_name`` when set, else the run's session id) — and its
kind (``raw``: words an agent or the user actually said; ``fact``: what extraction kept).

The commands parse, render and confirm; what they show and delete comes from the memory
layer's inspector (:mod:`massmem.memory.inspection`).  Importing this module is cheap:
Qdrant, the embedder and mem0 load only inside commands, and only when a store exists.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from massmem.errors import MassmemError, SessionNotFound, UsageError
from massmem.memory.inspection import MemoryInspector, MemoryItem, has_store, open_inspector, session_deleter

if TYPE_CHECKING:
    from massmem.config.schema import PersistentMemoryConfig, TeamConfig

__all__ = ["app", "render_for_repl", "render_items", "session_memory_deleter"]

EXIT_FAILED, EXIT_USAGE = 1, 2

app = typer.Typer(
    name="memory",
    help="Inspect persistent memory: every fact, where it came from; delete what should go.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


# ---------------------------------------------------------------------------------- the protocol


def _memory_config(config_source: str | None) -> PersistentMemoryConfig:
    """The persistent-memory settings of ``config_source`` (a team file), or the defaults."""
    from massmem.config.schema import PersistentMemoryConfig

    if config_source is None:
        return PersistentMemoryConfig(enabled=True)
    from massmem.config.loader import load_config

    return load_config(config_source).memory.persistent_memory


@contextmanager
def _inspector(config_source: str | None) -> Iterator[MemoryInspector | None]:
    config = _memory_config(config_source)
    if not has_store(config):
        yield None
        return
    inspector = open_inspector(config)
    try:
        yield inspector
    finally:
        inspector.close()


def session_memory_deleter(config_source: str | None = None) -> Callable[[str], int] | None:
    """For ``sessions delete``: ``f(session_id) -> memories deleted``, or ``None`` when memory is unavailable."""
    try:
        config = _memory_config(config_source)
    except MassmemError:
        return None
    return session_deleter(config)


# ---------------------------------------------------------------------------------- rendering


def _one_line(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render_items(items: Sequence[MemoryItem], *, scores: bool = False) -> str:
    if not items:
        return "No memories."
    head = f"{'ID':<10} {'SESSION':<24} {'AGENT':<12} {'TURN':>4}  {'KIND':<5} "
    head += f"{'SCORE':>6}  TEXT" if scores else "TEXT"
    lines = [head]
    for item in items:
        turn = str(item.turn) if item.turn is not None else "-"
        row = f"{item.id[:8]:<10} {_one_line(item.session_id or '-', 24):<24} {_one_line(item.agent_id or '-', 12):<12} "
        row += f"{turn:>4}  {item.kind:<5} "
        if scores:
            row += f"{(item.score or 0.0):>6.3f}  "
        lines.append(row + _one_line(item.text, 70))
    lines.append(
        f"({len(items)} memor{'y' if len(items) == 1 else 'ies'}; massmem memory show ID for one in full)"
    )
    return "\n".join(lines)


def render_for_repl(team: TeamConfig, scope: str, query: str | None) -> str:
    """``/memory [query]`` in interactive mode: this session's memories, or a search of them."""
    config = team.memory.persistent_memory
    if not has_store(config):
        return f"No memories stored yet for session {scope}."
    inspector = open_inspector(config)
    try:
        if query:
            return render_items(inspector.search(query, session=scope, agent=None, limit=10), scores=True)
        items = inspector.list(session=scope, agent=None, limit=20)
        return render_items(items) + (
            "\n(the 20 most recent; massmem memory list --session " + scope + " for all)"
            if len(items) == 20
            else ""
        )
    finally:
        inspector.close()


# ---------------------------------------------------------------------------------- commands


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _check_scope(session: str | None, agent: str | None) -> None:
    from massmem.ids import is_safe_id
    from massmem.sessions.registry import check_session_id

    try:
        if session is not None:
            check_session_id(session)
        if agent is not None and not is_safe_id(agent):
            raise UsageError(f"agent id {agent!r} is not a safe name")
    except UsageError as exc:
        _fail(str(exc), EXIT_USAGE)


SessionOpt = Annotated[str | None, typer.Option("--session", "-s", help="Only this memory session.")]
AgentOpt = Annotated[str | None, typer.Option("--agent", "-a", help="Only this agent's memories.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config",
        "-c",
        help="Team config whose memory settings say where the store is "
        "(default: the local store under MASSMEM_HOME).",
    ),
]


def _run(fn: Callable[[], None]) -> None:
    try:
        fn()
    except (UsageError, SessionNotFound) as exc:
        _fail(str(exc), EXIT_USAGE)
    except MassmemError as exc:
        _fail(str(exc), EXIT_FAILED)


@app.command("list")
def list_(
    session: SessionOpt = None,
    agent: AgentOpt = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="Only the last N.", min=1)] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Every memory (oldest first) with its session, agent, turn and kind."""
    _check_scope(session, agent)

    def go() -> None:
        with _inspector(config) as inspector:
            items = [] if inspector is None else inspector.list(session=session, agent=agent, limit=limit)
        typer.echo(
            json.dumps([i.as_dict() for i in items], indent=2, ensure_ascii=False)
            if as_json
            else render_items(items)
        )

    _run(go)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for (by meaning and by words).")],
    session: SessionOpt = None,
    agent: AgentOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many results.", min=1)] = 10,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """The memories most relevant to QUERY, best first (the search agents use)."""
    _check_scope(session, agent)

    def go() -> None:
        with _inspector(config) as inspector:
            items = (
                []
                if inspector is None
                else inspector.search(query, session=session, agent=agent, limit=limit)
            )
        typer.echo(
            json.dumps([i.as_dict() for i in items], indent=2, ensure_ascii=False)
            if as_json
            else render_items(items, scores=True)
        )

    _run(go)


def _resolve(inspector: MemoryInspector, memory_id: str) -> MemoryItem:
    """A memory by id, or by an unambiguous prefix of at least 6 characters (as ``list`` shows)."""
    item = inspector.get(memory_id) if len(memory_id) >= 32 else None
    if item is not None:
        return item
    if len(memory_id) < 6:
        raise UsageError(f"memory id {memory_id!r} is too short; give at least 6 characters")
    matches = [i for i in inspector.list(session=None, agent=None, limit=None) if i.id.startswith(memory_id)]
    if not matches:
        raise SessionNotFound(f"no memory {memory_id!r} (massmem memory list shows them)")
    if len(matches) > 1:
        raise UsageError(f"memory id {memory_id!r} is ambiguous: {', '.join(m.id for m in matches[:5])}")
    return matches[0]


@app.command()
def show(
    memory_id: Annotated[str, typer.Argument(help="Memory id (or its first 6+ characters).")],
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """One memory in full, with everything recorded about where it came from."""

    def go() -> None:
        with _inspector(config) as inspector:
            if inspector is None:
                raise SessionNotFound(f"no memory {memory_id!r}: nothing has been stored yet")
            item = _resolve(inspector, memory_id)
        if as_json:
            typer.echo(json.dumps(item.as_dict(), indent=2, ensure_ascii=False))
            return
        lines = [
            f"id        {item.id}",
            f"session   {item.session_id or '-'}",
            f"agent     {item.agent_id or '-'}",
            f"turn      {item.turn if item.turn is not None else '-'}",
            f"kind      {item.kind}",
            f"created   {item.created_at or '-'}",
        ]
        for key, value in sorted(item.metadata.items()):
            lines.append(f"{key:<9} {value}")
        lines += ["", item.text]
        typer.echo("\n".join(lines))

    _run(go)


@app.command()
def forget(
    memory_ids: Annotated[
        list[str] | None, typer.Argument(help="Memory ids (or 6+ character prefixes).")
    ] = None,
    session: SessionOpt = None,
    agent: AgentOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (scripts).")] = False,
    config: ConfigOpt = None,
) -> None:
    """Delete memories: the ids given, or every memory of --session / --agent.  Asks first unless --yes."""
    _check_scope(session, agent)
    if not memory_ids and session is None and agent is None:
        _fail("say what to forget: memory ids, --session or --agent", EXIT_USAGE)

    def go() -> None:
        with _inspector(config) as inspector:
            if inspector is None:
                typer.echo("Nothing to forget: no memories have been stored.")
                return
            if memory_ids:
                targets = [_resolve(inspector, m) for m in memory_ids]
                if session is not None or agent is not None:
                    targets = [
                        t
                        for t in targets
                        if (session is None or t.session_id == session)
                        and (agent is None or t.agent_id == agent)
                    ]
            else:
                targets = inspector.list(session=session, agent=agent, limit=None)
            if not targets:
                typer.echo("No matching memories.")
                return
            if not yes:
                if not sys.stdin.isatty():
                    raise UsageError(
                        "refusing to delete without confirmation: standard input is not a terminal; pass --yes"
                    )
                typer.echo(render_items(targets))
                if not typer.confirm(f"Forget these {len(targets)} memories?", default=False):
                    typer.echo("Nothing deleted.")
                    raise typer.Exit(EXIT_FAILED)
            deleted = inspector.forget([t.id for t in targets])
        typer.echo(f"forgot {deleted} memor{'y' if deleted == 1 else 'ies'}")

    _run(go)


@app.command()
def export(
    session: SessionOpt = None,
    agent: AgentOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Memories as JSON (every field and origin); secrets scrubbed."""
    _check_scope(session, agent)

    def go() -> None:
        from massmem.errors import redact

        with _inspector(config) as inspector:
            items = [] if inspector is None else inspector.list(session=session, agent=agent, limit=None)
        data = []
        for item in items:
            entry = item.as_dict()
            entry["text"] = redact(entry["text"])
            data.append(entry)
        text = json.dumps(
            {"massmem_memory_export": 1, "session": session, "agent": agent, "memories": data},
            indent=2,
            ensure_ascii=False,
        )
        if output is None:
            typer.echo(text)
            return
        from massmem.paths import atomic_write_text

        output.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(output, text + "\n")
        typer.echo(f"exported {len(data)} memories to {output}", err=True)

    _run(go)
