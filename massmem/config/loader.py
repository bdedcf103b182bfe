"""Turn a YAML team file into a validated :class:`TeamConfig`, or explain every problem in it.

A config error is the first thing most people meet, so the loader works hard on the report:
every issue found (not just the first) carries the dotted path (``agents[1].backend.model``),
the line in the file, a plain message and, where we can guess, a hint such as a did-you-mean.
Nothing here imports more than PyYAML, pydantic, python-dotenv and the schema, so
``massmem validate`` stays fast and never needs a provider SDK.

This module is the pipeline; each step has its own module beside it:

    read the file (``sources``, within ``limits``)
    -> parse YAML keeping the line of every key (``yaml_lines``)
    -> MassGen/DevAll spellings rewritten to massmem's, lines kept (``dialects``)
    -> replace ``${VAR}`` from the environment and ``.env`` (``interpolation``)
    -> note secret values (``redaction``)
    -> cross-checks on the plain data (``schema.crosschecks``)
    -> ``TeamConfig.model_validate``
    -> pydantic's errors as issues (``validation_issues``, through ``schema_paths``)
    -> issues scrubbed, deduplicated and sorted by line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from massmem.config.dialects import normalise
from massmem.config.interpolation import dotenv_variables, interpolate
from massmem.config.locations import LineMap
from massmem.config.redaction import collect_secrets, scrub
from massmem.config.schema import TeamConfig
from massmem.config.schema.crosschecks import cross_check
from massmem.config.sources import EXAMPLES_PREFIX, is_example, locate, read_text
from massmem.config.validation_issues import translate
from massmem.config.wording import kind_of
from massmem.config.yaml_lines import parse_yaml
from massmem.errors import ConfigError, ConfigIssue

__all__ = ["format_issues", "issues_as_json", "load_config", "load_config_text"]


def load_config(
    source: str | Path,
    *,
    env: Mapping[str, str] | None = None,
    read_dotenv: bool = True,
) -> TeamConfig:
    """Load and validate a team config from a file path or ``@examples/NAME``.

    ``env`` stands in for the real environment (default ``os.environ``).  Unless
    ``read_dotenv`` is false, ``.env`` files in the current directory and in the
    config file's directory fill in variables the environment lacks; the real
    environment always wins, and ``os.environ`` is never modified.
    """
    path, source_name = locate(source)
    text = read_text(path, source_name)
    merged = dict(os.environ if env is None else env)
    if read_dotenv:
        merged = {**dotenv_variables(path, is_example=is_example(source)), **merged}
    return load_config_text(text, source_name=source_name, env=merged)


def load_config_text(
    text: str,
    *,
    source_name: str = "<config>",
    env: Mapping[str, str] | None = None,
) -> TeamConfig:
    """Validate config text.  ``env`` (default ``os.environ``) feeds ``${VAR}``; no ``.env`` is read."""
    data, lines, issues = parse_yaml(text, source_name)
    # Before interpolation, so refused MassGen tool sections never ask for their own variables.
    issues += normalise(data, lines)
    data, var_issues = interpolate(data, os.environ if env is None else env, lines)
    issues += var_issues
    secrets = collect_secrets(data)
    issues += _structure_issues(data, lines)
    if not _is_fatal(data):
        try:
            config = TeamConfig.model_validate(data)
        except ValidationError as exc:
            issues += translate(exc, data, lines, skip_paths={i.path for i in var_issues})
        else:
            if not issues:
                return config
    issues = [scrub(issue, secrets) for issue in _dedupe(issues)]
    raise ConfigError(_sorted(issues), source_name)


def format_issues(err: ConfigError) -> str:
    """Render issues for a terminal, one ``file:line: path: message`` per issue, editor-clickable."""
    source = err.source or "config"
    count = len(err.issues)
    out = [f"{source}: {count} problem{'s' if count != 1 else ''} found"]
    for issue in err.issues:
        where = f"{source}:{issue.line}" if issue.line is not None else source
        what = f"{issue.path}: " if issue.path else ""
        out.append(f"{where}: {what}{issue.message}")
        if issue.hint:
            out.append(f"    hint: {issue.hint}")
    return "\n".join(out)


def issues_as_json(err: ConfigError) -> list[dict[str, object]]:
    """Issues as plain dicts (``path``, ``line``, ``message``, ``hint``) for ``validate --json``."""
    return [issue.as_dict() for issue in err.issues]


def _is_fatal(data: Any) -> bool:
    """Shapes pydantic would only describe as 'input should be a dict'; we say it better ourselves."""
    return not isinstance(data, dict)


def _structure_issues(data: Any, lines: LineMap) -> list[ConfigIssue]:
    """Checks that give better messages than pydantic, or that pydantic skips after a field error."""
    if data is None:
        return [
            ConfigIssue(
                "",
                "the config is empty",
                None,
                f"a config needs at least an 'agents:' list; start from {EXAMPLES_PREFIX}scripted",
            )
        ]
    if not isinstance(data, dict):
        return [
            ConfigIssue(
                "",
                f"the top level must be a mapping of keys like 'agents:', got {kind_of(data)}",
                1,
                "start the file with 'agents:' followed by a list of agents",
            )
        ]
    return cross_check(data, lines)


def _sorted(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    """By line; issues without a line (file-level ones) go last, keeping their order."""
    return sorted(issues, key=lambda i: (i.line is None, i.line or 0))


def _dedupe(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    """Drop repeats, including pydantic's team-level duplicate-id error our own check already placed."""
    seen: set[tuple[str, str]] = set()
    messages = {i.message for i in issues if i.path}
    out: list[ConfigIssue] = []
    for issue in issues:
        key = (issue.path, issue.message)
        if key in seen or (not issue.path and issue.message in messages):
            continue
        seen.add(key)
        out.append(issue)
    return out
