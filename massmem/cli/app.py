"""The ``massmem`` command line: thin commands over the library.

Nothing here decides how a team works; commands parse arguments, call the
library, and turn its results and errors into output and exit codes.  Heavy
modules are imported inside commands so ``massmem --help`` stays instant.

Exit codes: 0 ok, 1 run failed, 2 invalid config or usage (an unknown or
unsafe session id included), 3 timed out, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, NoReturn

import typer

from massmem import __version__
from massmem.cli.memory_cmd import app as _memory_app
from massmem.cli.migrate_cmd import migrate as _migrate
from massmem.cli.sessions_cmd import app as _sessions_app
from massmem.errors import ConfigError, MassmemError, SessionNotFound, UsageError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 3
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="massmem",
    help="Run a team of LLM agents on a question; they answer, vote, and remember.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _fail(message: str, code: int) -> NoReturn:
    _err(f"error: {message}")
    raise typer.Exit(code)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"massmem {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Show the version and exit.", callback=_version_callback, is_eager=True
        ),
    ] = False,
) -> None:
    """massmem: a team of LLM agents that answer together, vote, and remember."""


# ----------------------------------------------------------------------------------------- validate


@app.command()
def validate(
    config: Annotated[str, typer.Argument(help="YAML file or @examples/NAME")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable result.")] = False,
) -> None:
    """Check a team config and report every problem with its location."""
    from massmem.config.loader import format_issues, issues_as_json, load_config

    try:
        team = load_config(config)
    except ConfigError as exc:
        if as_json:
            typer.echo(
                json.dumps({"valid": False, "source": exc.source, "issues": issues_as_json(exc)}, indent=2)
            )
        else:
            _err(format_issues(exc))
        raise typer.Exit(EXIT_USAGE) from None
    agents = [f"{a.id} ({a.backend.type}:{a.backend.model})" for a in team.agents]
    if as_json:
        typer.echo(json.dumps({"valid": True, "source": config, "agents": agents, "issues": []}, indent=2))
    else:
        typer.echo(
            f"{config}: valid — {len(agents)} agent{'s' if len(agents) != 1 else ''}: {', '.join(agents)}"
        )


# ----------------------------------------------------------------------------------------- run


@app.command()
def run(
    question: Annotated[
        str | None, typer.Argument(help="The question; omit it for interactive mode.")
    ] = None,
    config: Annotated[
        str | None, typer.Option("--config", "-c", help="Team config: a YAML file or @examples/NAME.")
    ] = None,
    list_sessions: Annotated[
        bool, typer.Option("--list-sessions", help="List sessions, newest first.")
    ] = False,
    all_sessions: Annotated[bool, typer.Option("--all", help="With --list-sessions: every session.")] = False,
    session_id: Annotated[
        str | None,
        typer.Option("--session-id", help="Resume this session, or start one with this (new) name."),
    ] = None,
    resume: Annotated[
        str | None, typer.Option("--resume", help="Resume this session; an unknown id is an error.")
    ] = None,
    interactive: Annotated[
        bool,
        typer.Option(
            "--interactive", "-i", help="Interactive mode even when input is a pipe (read line by line)."
        ),
    ] = False,
    no_display: Annotated[
        bool, typer.Option("--no-display", help="No live view; print only the answer.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine-readable result.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Write debug logs and memory dumps.")] = False,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Seconds for the whole coordination.", min=1)
    ] = None,
) -> None:
    """Run the team on a question (or interactively when no question is given).

    Sessions: --session-id NAME resumes NAME with its history, or starts a session of that
    name when none exists; --resume ID resumes and fails (listing recent ids) when ID is
    unknown.  Either wins over the config's session_id; without both, a new id is made.
    """
    if list_sessions:
        from massmem.cli.sessions_cmd import print_sessions

        try:
            print_sessions(None if all_sessions else 10, as_json)
        except MassmemError as exc:
            _fail(str(exc), EXIT_FAILED)
        return
    if session_id is not None and resume is not None and session_id != resume:
        _fail("--session-id and --resume name different sessions; give one of them", EXIT_USAGE)
    wanted = resume or session_id
    if wanted is not None:
        from massmem.sessions.registry import check_session_id

        try:
            check_session_id(wanted)
        except UsageError as exc:
            _fail(str(exc), EXIT_USAGE)
    if config is None:
        _fail(
            'a team config is needed: massmem run -c CONFIG "question" (try -c @examples/local)', EXIT_USAGE
        )
    if question is not None and not question.strip():
        _fail(
            'the question is empty: massmem run -c CONFIG "question" (omit it for interactive mode)',
            EXIT_USAGE,
        )

    from massmem.config.loader import format_issues, load_config

    try:
        team = load_config(config)
    except ConfigError as exc:
        _err(format_issues(exc))
        raise typer.Exit(EXIT_USAGE) from None
    if timeout is not None:
        team.orchestrator.timeout = timeout

    from massmem.cli.repl import run_interactive
    from massmem.cli.session_runner import RunOptions, run_once
    from massmem.team.session import MAX_QUESTION_CHARS, check_question

    options = RunOptions(
        config_path=config,
        session_id=wanted,
        must_exist=resume is not None,
        display="none" if (no_display or as_json) else team.ui.display,
        as_json=as_json,
        debug=debug,
    )
    try:
        if interactive or (question is None and sys.stdin.isatty()):
            code = run_interactive(team, options, first_question=question)
            raise typer.Exit(code)
        if question is None:
            # A pipe and no question: all of standard input is one question (read no further
            # than the limit: a runaway pipe must not fill memory first).
            question = check_question(sys.stdin.read(MAX_QUESTION_CHARS + 1)).strip()
            if not question:
                _fail(
                    "no question given and standard input is empty (use --interactive to read "
                    "one question per line)",
                    EXIT_USAGE,
                )
        code = run_once(team, check_question(question), options)
    except (UsageError, SessionNotFound) as exc:
        _fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt as exc:
        from massmem.cli.signals import interrupt_exit_code, interrupt_reason

        _err(interrupt_reason(exc))
        raise typer.Exit(interrupt_exit_code(exc)) from None
    except MassmemError as exc:
        _fail(str(exc), EXIT_FAILED)
    except OSError as exc:
        _fail(str(_os_error(exc)), EXIT_FAILED)
    raise typer.Exit(code)


def _os_error(exc: OSError) -> MassmemError:
    """A file-system failure no layer below translated: still a message with the path, not a traceback."""
    from pathlib import Path

    from massmem import paths

    return paths.storage_error(exc, Path(str(exc.filename or paths.home())), "use")


# ----------------------------------------------------------------------------------------- doctor


@app.command()
def doctor(
    config: Annotated[
        str | None, typer.Option("--config", "-c", help="Check this team's memory settings and first agent.")
    ] = None,
    qdrant_server: Annotated[
        str | None,
        typer.Option("--qdrant-server", metavar="HOST:PORT", help="Check a Qdrant server instead."),
    ] = None,
) -> None:
    """Check that persistent memory works here: keys, embedder, extraction LLM, Qdrant, round trip."""
    from massmem.config.schema import PersistentMemoryConfig, QdrantConfig

    extract_fn = None
    if config is not None:
        from massmem.config.loader import format_issues, load_config

        try:
            team = load_config(config)
        except ConfigError as exc:
            _err(format_issues(exc))
            raise typer.Exit(EXIT_USAGE) from None
        pconfig = team.memory.persistent_memory
        if pconfig.llm.provider == "agent":
            from massmem.backends.registry import build_backend
            from massmem.memory.extraction import backend_extract_fn

            first = team.agents[0]
            extract_fn = backend_extract_fn(build_backend(first.backend, agent_id=first.id), max_tokens=256)
    else:
        pconfig = PersistentMemoryConfig(enabled=True)
    if qdrant_server:
        host, _, port = qdrant_server.partition(":")
        if not port.isdigit() and port:
            _fail(f"--qdrant-server wants HOST:PORT, got {qdrant_server!r}", EXIT_USAGE)
        pconfig = pconfig.model_copy(
            update={"qdrant": QdrantConfig(mode="server", host=host, port=int(port or 6333))}
        )

    from massmem.memory.doctor import check_memory_setup, checks_passed, format_checks

    checks = check_memory_setup(pconfig, extract_fn=extract_fn)
    typer.echo(format_checks(checks))
    ok = checks_passed(checks)
    typer.echo("memory setup: OK" if ok else "memory setup: FAILED")
    raise typer.Exit(EXIT_OK if ok else EXIT_FAILED)


# ----------------------------------------------------------------------------------------- sub-commands

app.add_typer(_sessions_app, name="sessions")
app.add_typer(_memory_app, name="memory")
app.command("migrate")(_migrate)


_LIST_FLAGS = frozenset({"--all", "--json"})


def _fast_list(argv: list[str]) -> int | None:
    """``run --list-sessions [--all] [--json]`` and ``sessions list [--all] [--json]``, answered directly.

    Typer coerces every parameter of a command through pydantic before calling it, which
    costs more than the whole listing (~0.25 s of imports for ``run``'s dozen options).
    These exact forms are common enough to answer without it; the output is the same as
    the full commands print (anything else falls through to typer).
    """
    if argv[:1] == ["run"] and "--list-sessions" in argv:
        flags = argv[1:]
        flags.remove("--list-sessions")
    elif argv[:2] == ["sessions", "list"]:
        flags = argv[2:]
    else:
        return None
    if not set(flags) <= _LIST_FLAGS or len(set(flags)) != len(flags):
        return None
    from massmem.cli.sessions_cmd import print_sessions

    try:
        print_sessions(None if "--all" in flags else 10, "--json" in flags)
    except MassmemError as exc:
        _err(f"error: {exc}")
        return EXIT_FAILED
    return EXIT_OK


def main() -> None:
    """Console-script entry point."""
    # pydantic's plugin discovery scans every installed distribution: ~12 ms of start-up for nothing.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "1")
    from massmem.cli.signals import install, interrupt_exit_code, interrupt_reason

    install()
    try:
        code = _fast_list(sys.argv[1:])
        if code is not None:
            sys.exit(code)
        app()
    except KeyboardInterrupt as exc:
        _err(interrupt_reason(exc))
        sys.exit(interrupt_exit_code(exc))
    except OSError as exc:
        _err(f"error: {_os_error(exc)}")
        sys.exit(EXIT_FAILED)


if __name__ == "__main__":
    main()
