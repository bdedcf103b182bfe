"""``massmem sessions list|show|delete|export`` (and ``run --list-sessions``).

Light on purpose: listing imports only typer, json and the SQLite registry, so it stays
as fast as ``--help``.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from massmem.errors import MassmemError, SessionNotFound, UsageError

__all__ = ["app", "print_sessions", "render_sessions"]

EXIT_FAILED, EXIT_USAGE = 1, 2

app = typer.Typer(
    name="sessions",
    help="List, inspect, delete and export sessions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _exit_for(exc: MassmemError) -> NoReturn:
    code = EXIT_USAGE if isinstance(exc, SessionNotFound | UsageError) else EXIT_FAILED
    _fail(str(exc), code)


def _one_line(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 3] + "..."


def render_sessions(limit: int | None = 10) -> str:
    """The session table (newest first) as text."""
    from massmem.sessions.registry import SessionRegistry

    records, total = SessionRegistry().page(limit=limit)
    if not records:
        return 'No sessions yet. Start one with: massmem run -c CONFIG "question"'
    lines = [
        f"{'SESSION':<28} {'STATUS':<11} {'STARTED':<19} {'TURNS':>5}  {'MODELS':<28} DESCRIPTION / LAST QUESTION"
    ]
    for r in records:
        models = _one_line(", ".join(dict.fromkeys(r.models)) or "-", 28)
        about = r.description or ""
        if r.question:
            about = f"{about} · {r.question}" if about else r.question
        lines.append(
            f"{r.id:<28} {r.status:<11} {r.started:<19} {r.turns:>5}  {models:<28} {_one_line(about, 60)}"
        )
    if limit is not None and total > len(records):
        lines.append(f"({len(records)} of {total} shown; --all lists every session)")
    return "\n".join(lines)


def print_sessions(limit: int | None, as_json: bool) -> None:
    """What ``run --list-sessions`` and ``sessions list`` print."""
    if as_json:
        from massmem.sessions.registry import SessionRegistry

        typer.echo(json.dumps([r.as_dict() for r in SessionRegistry().list(limit=limit)], indent=2))
        return
    typer.echo(render_sessions(limit))


@app.command("list")
def list_(
    all_sessions: Annotated[bool, typer.Option("--all", help="Every session, not only the last 10.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many (newest first).", min=1)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable list.")] = False,
) -> None:
    """Sessions, newest first: id, status, started, turns, models, description."""
    try:
        print_sessions(None if all_sessions else limit, as_json)
    except MassmemError as exc:
        _exit_for(exc)


def _show_text(export: dict[str, Any]) -> str:
    row = export.get("session") or {}
    state = export.get("state") or {}
    lines = [f"session     {row.get('id') or state.get('session_id')}"]
    if row:
        lines += [
            f"status      {row['status']}" + (f" ({row['error']})" if row.get("error") else ""),
            f"started     {row['started']}   updated {row['updated']}",
            f"models      {', '.join(dict.fromkeys(row.get('models') or [])) or '-'}",
        ]
        if row.get("description"):
            lines.append(f"description {row['description']}")
        if row.get("config_path"):
            lines.append(f"config      {row['config_path']}")
    if not state:
        lines.append("state       none saved")
        return "\n".join(lines)
    turns = state.get("turns") or []
    reset_after = int(state.get("reset_after") or 0)
    lines.append(
        f"turns       {len(turns)}" + (f" (context reset after turn {reset_after})" if reset_after else "")
    )
    for turn in turns:
        mark = " (before reset)" if turn["number"] <= reset_after else ""
        votes = ", ".join(f"{k}: {v}" for k, v in (turn.get("vote_counts") or {}).items()) or "no votes"
        lines.append(f"\n── turn {turn['number']}{mark} · winner {turn['winner']} ({votes})")
        lines.append(f"Q: {turn['question']}")
        lines.append(f"A: {turn['final_answer']}")
        for entry in turn.get("shared_entries") or ():
            lines.append(
                f"shared [{entry.get('type')}] by {entry.get('author')} ({entry.get('scope')}): "
                + " ".join(str(entry.get("content", "")).split())[:200]
            )
    agents = state.get("agents") or {}
    if agents:
        lines.append("")
        for agent_id, agent in agents.items():
            conversation = agent.get("conversation") or {}
            count = len(conversation.get("messages") or [])
            summaries = len(agent.get("summaries") or [])
            lines.append(
                f"agent {agent_id}: {count} message(s) in conversation, {summaries} compression summary(ies)"
            )
    return "\n".join(lines)


@app.command()
def show(
    session_id: Annotated[str, typer.Argument(help="Session id (massmem sessions list shows them).")],
    as_json: Annotated[bool, typer.Option("--json", help="Registry row and full state as JSON.")] = False,
) -> None:
    """One session: its turns (question, answer, winner, votes) and agents."""
    from massmem.sessions.manage import export_session

    try:
        export = export_session(session_id)
    except MassmemError as exc:
        _exit_for(exc)
    typer.echo(json.dumps(export, indent=2, ensure_ascii=False) if as_json else _show_text(export))


def _memory_delete_hook(config: str | None) -> Any:
    """The persistent-memory deleter, or ``None`` when persistent memory is not available."""
    from massmem.cli.memory_cmd import session_memory_deleter

    return session_memory_deleter(config)


@app.command()
def delete(
    session_ids: Annotated[list[str], typer.Argument(help="One or more session ids.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (scripts).")] = False,
    config: Annotated[
        str | None,
        typer.Option(
            "--config", "-c", help="Team config whose memory settings say where the memory store is."
        ),
    ] = None,
) -> None:
    """Delete sessions: registry row, saved state and their memories.  Asks first unless --yes."""
    from massmem.sessions.manage import delete_session
    from massmem.sessions.registry import SessionRegistry, check_session_id

    try:
        for session_id in session_ids:
            check_session_id(session_id)
        registry = SessionRegistry()
        from massmem.sessions.state import state_dir

        for session_id in session_ids:
            if registry.find(session_id) is None and not state_dir(session_id).exists():
                raise SessionNotFound(registry.not_found_message(session_id))
    except MassmemError as exc:
        _exit_for(exc)
    if not yes:
        if not sys.stdin.isatty():
            _fail(
                "refusing to delete without confirmation: standard input is not a terminal; pass --yes",
                EXIT_USAGE,
            )
        names = ", ".join(session_ids)
        if not typer.confirm(f"Delete {names} (state, registry entry and memories)?", default=False):
            typer.echo("Nothing deleted.")
            raise typer.Exit(EXIT_FAILED)
    hook = _memory_delete_hook(config)
    failed = False
    for session_id in session_ids:
        try:
            report = delete_session(session_id, delete_memories=hook, registry=registry)
        except MassmemError as exc:
            typer.echo(f"error: {session_id}: {exc}", err=True)
            failed = True
            continue
        memories = (
            f"{report.memories} memor{'y' if report.memories == 1 else 'ies'}"
            if report.memories is not None
            else "memories: not available"
        )
        typer.echo(f"deleted {session_id} ({memories})")
        if report.memory_note:
            typer.echo(f"note: {report.memory_note}", err=True)
    if failed:
        raise typer.Exit(EXIT_FAILED)


def _refusal(path: Path) -> str | None:
    """Why ``path`` must not be written, or ``None`` when it is absent or a regular file.

    Replacing a link, a FIFO or a device with a file (or writing through one) is never what
    ``-o`` means: as root it would replace ``/dev/full`` or ``/dev/stdout``.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot inspect {path}: {exc.strerror or exc}"
    if stat.S_ISREG(mode):
        return None
    kinds = (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
    )
    kind = next((name for test, name in kinds if test(mode)), "not a regular file")
    return f"refusing to write the export to {path}: it is {kind}; give a regular file's path, or -o - for standard output"


def _write_export(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, fsync it, then rename it over ``path``.

    Why: a failed write (full disk, file-size limit) must leave any earlier file whole and be
    reported, and the rename replaces only a regular file (:func:`_refusal` ran first; a link
    planted in between is replaced itself, never followed).  Only the folder must exist.
    """
    from massmem.paths import atomic_write_text

    atomic_write_text(path, text)


def _write_stdout(text: str) -> None:
    """Print and flush now, so a failed write (``> /dev/full``) is an error, not a lost export."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as exc:
        # Nothing more can reach stdout; keep interpreter shutdown from flushing it again.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        _fail(f"cannot write the export to standard output: {exc.strerror or exc}", EXIT_FAILED)


@app.command()
def export(
    session_id: Annotated[str, typer.Argument(help="Session id.")],
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="Write to this regular file (replaced atomically) instead of standard output; - is stdout.",
        ),
    ] = None,
) -> None:
    """The session as JSON: registry row and full state, secrets redacted."""
    from massmem.sessions.manage import export_session

    target = None if output in (None, "-") else Path(output)
    if target is not None:
        refusal = _refusal(target)
        if refusal is not None:
            _fail(refusal, EXIT_USAGE)
    try:
        data = export_session(session_id)
    except MassmemError as exc:
        _exit_for(exc)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if target is None:
        _write_stdout(text)
        return
    try:
        _write_export(target, text)
    except OSError as exc:
        _fail(f"cannot write the export to {target}: {exc.strerror or exc}; nothing was written", EXIT_FAILED)
    typer.echo(f"exported {session_id} to {target}", err=True)
