"""Input limits: how big a team file may be before it is refused, at its location.

A team file is a few kilobytes; these bounds are far above any real one and keep a wrong path
(``-c /dev/zero``), a generated monster or a pasted blob from costing minutes or landing in the
session registry.  Each refusal names the limit and where it was crossed.  The file's size is
checked as it is read (:mod:`massmem.config.sources`), the rest while the YAML is walked
(:mod:`massmem.config.yaml_lines`); docs/configuration.md quotes them from here.
"""

from __future__ import annotations

__all__ = [
    "MAX_AGENTS",
    "MAX_CONFIG_BYTES",
    "MAX_DEPTH",
    "MAX_LINE_ENTRIES",
    "MAX_NUMBER_CHARS",
    "MAX_STRING_CHARS",
]

#: largest config file read, in bytes
MAX_CONFIG_BYTES = 1024 * 1024
#: most agents in one team (every agent is a concurrent model conversation)
MAX_AGENTS = 64
#: longest text value (a system prompt, a description), in characters
MAX_STRING_CHARS = 100_000
#: longest number, in characters (Python refuses to read integers of more than 4,300 digits)
MAX_NUMBER_CHARS = 100
#: deepest nesting of mappings and lists
MAX_DEPTH = 32
#: most keys and list items recorded with their lines (an alias bomb must not hang validation)
MAX_LINE_ENTRIES = 100_000
