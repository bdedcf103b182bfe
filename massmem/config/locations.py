"""Where an issue is: a path of keys and indexes, written the way people read it, and its line.

The YAML reader records the line of every key and list item under its dotted path
(``agents[1].backend``); everything that reports an issue looks its line up here, falling back
to the nearest ancestor for a key that is missing from the file.
"""

from __future__ import annotations

import re
from typing import TypeAlias

__all__ = ["LineMap", "Part", "format_path", "line_for"]

#: one step of a path: a mapping key or a list index
Part: TypeAlias = str | int
#: dotted path -> 1-based line in the file
LineMap: TypeAlias = dict[str, int]

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_\-]+$")


def format_path(parts: list[Part] | tuple[Part, ...]) -> str:
    """``('agents', 1, 'backend')`` -> ``agents[1].backend``; odd keys are quoted in brackets."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            escaped = part.replace("\\", "\\\\").replace('"', '\\"')
            out += f'["{escaped}"]'
    return out


def line_for(parts: tuple[Part, ...] | list[Part], lines: LineMap) -> int | None:
    """The line of ``parts``, or of its nearest ancestor present in the file (for missing keys)."""
    parts = list(parts)
    while parts:
        line = lines.get(format_path(parts))
        if line is not None:
            return line
        parts.pop()
    return None
