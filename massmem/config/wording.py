"""How an issue speaks of the user's values, and the did-you-mean it offers for a typo."""

from __future__ import annotations

from typing import Any

from massmem.errors import redact

__all__ = ["did_you_mean", "kind_of", "show", "show_plain"]


def did_you_mean(word: str, choices: list[str]) -> str | None:
    """'did you mean X?' for a close match, comparing case-insensitively."""
    import difflib  # only on the error path

    lowered = {c.lower(): c for c in choices}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f"did you mean '{lowered[match[0]]}'?" if match else None


def kind_of(value: Any) -> str:
    """What sort of value the user wrote, in words (``a mapping``, ``a number``, ...)."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "nothing (null)"
    return "text"


def show(value: Any) -> str:
    """A short rendering of a user's value: scalars verbatim (trimmed), containers by kind."""
    if isinstance(value, dict | list) or value is None:
        return kind_of(value)
    text = redact(repr(value) if isinstance(value, str) else show_plain(value))
    return text if len(text) <= 60 else text[:57] + "..."


def show_plain(value: Any) -> str:
    """A scalar as YAML would write it (``true``, not ``True``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
