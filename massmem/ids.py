"""Ids that may become file names (agents, sessions).

Kept in a module of its own so the session registry and path helpers can
check ids without importing the config schema (and pydantic) at start-up.
"""

from __future__ import annotations

import re

__all__ = ["SAFE_ID_PATTERN", "is_safe_id"]

#: letters, digits, ``_ . -``; starts with a letter or digit; no separators, no ``..``
SAFE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def is_safe_id(value: str) -> bool:
    return bool(SAFE_ID_PATTERN.fullmatch(value)) and ".." not in value
