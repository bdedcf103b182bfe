"""``${VAR}`` and ``${VAR:-default}`` in a team file's text values, fed by the environment and ``.env``.

The real environment always wins over ``.env`` files, and ``os.environ`` is never modified.  A
variable that is not set is an issue at the value's line, with the default syntax as the hint.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from massmem.config.locations import LineMap, Part, format_path, line_for
from massmem.errors import ConfigIssue

__all__ = ["dotenv_variables", "interpolate"]

#: Escapes, well-formed references, then anything else that starts like a reference.
_VAR_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?")


def dotenv_variables(path: Path, *, is_example: bool) -> dict[str, str]:
    """Variables from ``.env`` files; the config's own directory beats the current directory."""
    from dotenv import dotenv_values

    try:
        folders = [Path.cwd()]
    except OSError:  # the current directory was deleted under us
        folders = []
    if not is_example:
        folders.append(path.resolve().parent)
    merged: dict[str, str] = {}
    seen: set[Path] = set()
    for folder in folders:
        candidate = folder / ".env"
        if candidate in seen or not candidate.is_file():
            continue
        seen.add(candidate)
        try:
            values = dotenv_values(candidate)
        except (OSError, UnicodeDecodeError):
            continue
        merged.update({k: v for k, v in values.items() if v is not None})
    return merged


def interpolate(data: Any, env: Mapping[str, str], lines: LineMap) -> tuple[Any, list[ConfigIssue]]:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string value; ``$${`` stays a literal ``${``."""
    issues: list[ConfigIssue] = []

    def walk(value: Any, parts: tuple[Part, ...]) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*parts, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*parts, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "${" in value:
            return _substitute(value, env, parts, lines, issues)
        return value

    return walk(data, ()), issues


def _substitute(
    text: str, env: Mapping[str, str], parts: tuple[Part, ...], lines: LineMap, issues: list[ConfigIssue]
) -> str:
    path = format_path(parts)

    def replace(match: re.Match[str]) -> str:
        whole, name, default = match.group(0), match.group(1), match.group(2)
        if whole == "$${":
            return "${"
        if name is None:
            issues.append(
                ConfigIssue(
                    path,
                    f"malformed variable reference {whole!r}",
                    line_for(parts, lines),
                    "write ${NAME} or ${NAME:-default}; use $${ for a literal ${",
                )
            )
            return ""
        value = env.get(name)
        if default is not None and not value:
            return default
        if value is None:
            issues.append(
                ConfigIssue(
                    path,
                    f"environment variable {name} is not set; export it or put it in .env",
                    line_for(parts, lines),
                    f"or give a default: ${{{name}:-value}}",
                )
            )
            return ""
        return value

    return _VAR_REF.sub(replace, text)
