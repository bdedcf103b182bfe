"""Prompt markup that must never reach the user as an answer.

Small local models echo what they were given: massmem's own context blocks
(``<context label=...>``, the ``=== SHARED ... ===`` banners), the chat
template's control tokens (``<|im_end|>``, ``[/INST]``, ``<</SYS>>``,
``<start_of_turn>``) and the protocol's placeholders (``<your full answer>``).
An answer that carries any of these is not an answer a user should read.

The rule is the same everywhere an answer enters the record or leaves the
team: keep the clean text *before* the first marker when there is enough of it
(a model that answered well and then ran on into template tokens has still
answered), otherwise the text is refused.  See :func:`clean_answer`.
"""

from __future__ import annotations

import re

__all__ = ["MIN_SALVAGE_CHARS", "clean_answer", "find_scaffolding", "is_placeholder"]

#: a prefix shorter than this, cut before the first marker, is not worth keeping
MIN_SALVAGE_CHARS = 12

_MARKERS = re.compile(
    r"""
      </?(?:context|answer|earlier_turn)\b[^<>]{0,80}>       # massmem's own prompt blocks
    | ===\s*(?:END\s+OF\s+)?(?:SHARED|RELEVANT)\b             # memory section banners
    | ^[ \t]*•[ \t]*\[(?:Turn|From)\b | \[Tool\ Call:           # memory list items
    | \[/?INST\] | <</?SYS>>                                  # llama-2 chat format
    | <\|[a-z_]{2,20}\|>                                      # ChatML / Llama 3 / Phi control tokens
    | </?(?:start|end)_of_turn>                               # Gemma
    | <(?:your\s+full\s+answer|why|agent\s+id|one\s+of\s[^<>]{0,60})>   # the protocol's placeholders
    """,
    re.IGNORECASE | re.VERBOSE | re.MULTILINE,
)

_PLACEHOLDER = re.compile(r"^\s*(?:<[^<>]{0,60}>|\.{2,}|…|\W*)\s*$")


def is_placeholder(content: str) -> bool:
    """Weak models copy the instructions' ``<your full answer>`` or write ``...``: not an answer."""
    return bool(_PLACEHOLDER.fullmatch(content))


def find_scaffolding(text: str) -> str | None:
    """The first piece of prompt markup in ``text``, or None when it is clean."""
    match = _MARKERS.search(text)
    return match.group(0) if match is not None else None


def clean_answer(text: str) -> str | None:
    """``text`` fit to show a user, or None when nothing in it is.

    Clean text is returned stripped.  Text with markup keeps what comes before the
    first marker when that is at least :data:`MIN_SALVAGE_CHARS` long and not itself a
    placeholder; anything else (markup first, or only a placeholder) is None.
    """
    stripped = text.strip()
    if not stripped or is_placeholder(stripped):
        return None
    match = _MARKERS.search(stripped)
    if match is None:
        return stripped
    prefix = stripped[: match.start()].strip()
    if len(prefix) < MIN_SALVAGE_CHARS or is_placeholder(prefix) or _MARKERS.search(prefix):
        return None
    return prefix
