"""``massmem migrate FILE [-o OUT] [--force]``: a MassGen or DevAll config rewritten for massmem.

The work is :func:`massmem.config.migrate.migrate_text`; this module reads the file, prints the
report (every dropped key and change with its source line) on standard error, and writes the
config: to standard output, or to OUT through a temporary file renamed into place, so OUT is
either the whole validated config or untouched.  An existing OUT is refused without ``--force``.

Exit 0 when the migrated team has at least one agent and validates, 2 when the file is refused
(nothing written), 1 when OUT cannot be written.  Importing this module costs only typer: the
loader and the migration load inside the command.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from massmem.config.migrate import MigrationResult

__all__ = ["migrate", "report_lines"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def migrate(
    config: Annotated[str, typer.Argument(help="A MassGen or DevAll YAML file (or @examples/NAME).")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of standard output.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
) -> None:
    """Rewrite a MassGen or DevAll config as a massmem config that validates.

    Local tool machinery (MCP servers, custom tools, workspaces), Claude Code and AG2 agents and
    settings for features massmem lacks are dropped; each is listed with its line and the reason.
    Memory settings are kept as they are.  ${VAR} references are written back as ${VAR}.
    """
    from massmem.config.interpolation import dotenv_variables
    from massmem.config.loader import format_issues
    from massmem.config.migrate import migrate_text
    from massmem.config.sources import is_example, locate, read_text
    from massmem.errors import ConfigError

    if output is not None and not force and (output.exists() or output.is_symlink()):
        _fail(f"{output} exists; give another path, or --force to replace it", EXIT_USAGE)
    if output is not None and output.exists() and not output.is_file():
        _fail(f"{output} is not a regular file; give a file's path", EXIT_USAGE)
    try:
        path, source_name = locate(config)
        text = read_text(path, source_name)
    except ConfigError as exc:
        typer.echo(format_issues(exc), err=True)
        raise typer.Exit(EXIT_USAGE) from None
    env = {**dotenv_variables(path, is_example=is_example(config)), **os.environ}
    result = migrate_text(text, source_name=source_name, env=env)
    for line in report_lines(result):
        typer.echo(line, err=True)
    if not result.runnable or result.text is None:
        raise typer.Exit(EXIT_USAGE)
    if output is None:
        try:
            sys.stdout.write(result.text)
            sys.stdout.flush()
        except OSError as exc:
            _fail(f"cannot write the config to standard output: {exc.strerror or exc}", EXIT_FAILED)
        return
    try:
        _write(output, result.text, mode_from=path, replace=force)
    except FileExistsError:
        _fail(f"{output} exists; give another path, or --force to replace it", EXIT_USAGE)
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror or exc}", EXIT_FAILED)
    typer.echo(f"wrote {output}", err=True)


def report_lines(result: MigrationResult) -> list[str]:
    """The report: ``FILE:LINE: path: dropped: why`` / ``changed`` lines, then the outcome."""
    source = result.source

    def where(line: int | None) -> str:
        return f"{source}:{line}" if line is not None else source

    out = [f"{where(d.line)}: {d.path}: dropped: {d.reason}" for d in result.dropped]
    out += [f"{where(c.line)}: {c.path}: changed: {c.description}" for c in result.changes]
    if not result.runnable:
        count = len(result.issues)
        problems = "1 problem remains" if count == 1 else f"{count} problems remain"
        out.append(f"{source}: not migrated, nothing written: {problems}")
        for issue in result.issues:
            what = f"{issue.path}: " if issue.path else ""
            out.append(f"{where(issue.line)}: {what}{issue.message}")
            if issue.hint:
                out.append(f"    hint: {issue.hint}")
        return out
    agents = ", ".join(result.agents)
    out.append(
        f"{source}: migrated — {len(result.agents)} agent{'s' if len(result.agents) != 1 else ''}: {agents}; "
        f"{len(result.dropped)} dropped, {len(result.changes)} changed"
    )
    if result.unset_variables:
        out.append(
            f"    before a run, set: {', '.join(result.unset_variables)} (kept as ${{...}} in the config)"
        )
    return out


def _write(path: Path, text: str, *, mode_from: Path, replace: bool) -> None:
    """A temporary file beside ``path``, fsync'd, then renamed into place: never a partial file.

    Without ``replace`` the final step is a hard link, which fails if ``path`` appeared meanwhile
    (file systems without hard links fall back to a checked rename).  The file gets the source's
    permissions (and its owner may write it), so a config holding a key stays as private as the
    one it came from.
    """
    import contextlib
    import stat
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp, stat.S_IMODE(mode_from.stat().st_mode) | stat.S_IRUSR | stat.S_IWUSR)
        if replace:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise
        except OSError:
            if path.exists():
                raise FileExistsError(path) from None
            os.replace(tmp, path)
            return
        os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)
