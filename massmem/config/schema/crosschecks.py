"""The checks that tie parts of a team together, written once for the loader and the model.

Agent ids must be unique, store names must be unique, and every ``memories`` entry must name a
declared store (and may write only to a writable one).  They run on plain data: the loader runs
them on the YAML it read, with lines and hints, even when other errors stop pydantic before its
team-level validator; :class:`~massmem.config.schema.TeamConfig` runs them on its own dump, so a
model built in code is held to the same rules with the same words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from massmem.config.locations import LineMap, Part, format_path, line_for
from massmem.config.schema.stores import READ_ONLY_STORE_TYPES
from massmem.config.wording import did_you_mean
from massmem.errors import ConfigIssue

__all__ = ["cross_check"]


def cross_check(data: Mapping[str, Any], lines: LineMap) -> list[ConfigIssue]:
    """Every cross-reference problem in ``data`` (a team as plain data), in the file's order of checks."""
    return _duplicate_agent_ids(data.get("agents"), lines) + _memory_store_refs(data, lines)


def _duplicate_agent_ids(agents: Any, lines: LineMap) -> list[ConfigIssue]:
    """Report repeated ids even when other errors stop pydantic's team-level check from running."""
    if not isinstance(agents, list):
        return []
    first: dict[str, int] = {}
    issues: list[ConfigIssue] = []
    for index, agent in enumerate(agents):
        agent_id = agent.get("id") if isinstance(agent, dict) else None
        if not isinstance(agent_id, str):
            continue
        if agent_id in first:
            parts: tuple[Part, ...] = ("agents", index, "id")
            first_line = line_for(("agents", first[agent_id], "id"), lines)
            issues.append(
                ConfigIssue(
                    format_path(parts),
                    f"agent id {agent_id!r} is used twice; agent ids must be unique",
                    line_for(parts, lines),
                    f"rename one of them (first used at agents[{first[agent_id]}], line {first_line})",
                )
            )
        else:
            first[agent_id] = index
    return issues


def _memory_store_refs(data: Mapping[str, Any], lines: LineMap) -> list[ConfigIssue]:
    """Duplicate store names and agents' ``memories`` naming undeclared or read-only stores."""
    stores = data.get("memory_stores")
    declared: dict[str, tuple[int, Any]] = {}
    issues: list[ConfigIssue] = []
    for index, store in enumerate(stores if isinstance(stores, list) else []):
        name = store.get("name") if isinstance(store, dict) else None
        if not isinstance(name, str):
            continue
        if name in declared:
            parts: tuple[Part, ...] = ("memory_stores", index, "name")
            first_line = line_for(("memory_stores", declared[name][0], "name"), lines)
            issues.append(
                ConfigIssue(
                    format_path(parts),
                    f"memory store name {name!r} is used twice; store names must be unique",
                    line_for(parts, lines),
                    f"rename one of them (first declared at memory_stores[{declared[name][0]}], line {first_line})",
                )
            )
        else:
            declared[name] = (index, store.get("type"))
    agents = data.get("agents")
    for a_index, agent in enumerate(agents if isinstance(agents, list) else []):
        memories = agent.get("memories") if isinstance(agent, dict) else None
        for m_index, attachment in enumerate(memories if isinstance(memories, list) else []):
            name = attachment.get("name") if isinstance(attachment, dict) else None
            if not isinstance(name, str):
                continue
            parts = ("agents", a_index, "memories", m_index, "name")
            if name not in declared:
                suggestion = did_you_mean(name, list(declared))
                known = ", ".join(declared) or "none are declared"
                hint = f"{suggestion + ' ' if suggestion else ''}declared stores: {known}"
                issues.append(
                    ConfigIssue(
                        format_path(parts),
                        f"memory store {name!r} is not declared under memory_stores",
                        line_for(parts, lines),
                        hint,
                    )
                )
                continue
            kind = declared[name][1]
            if attachment.get("write") is True and kind in READ_ONLY_STORE_TYPES:
                parts = ("agents", a_index, "memories", m_index, "write")
                issues.append(
                    ConfigIssue(
                        format_path(parts),
                        f"memory store {name!r} is a read-only {kind!r} store; it cannot be attached with write: true",
                        line_for(parts, lines),
                        "remove 'write: true' or attach a writable store",
                    )
                )
    return issues
