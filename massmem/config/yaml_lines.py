"""YAML with lines: one document parsed into plain data plus the line of every key and list item.

PyYAML forgets where values came from once it builds Python objects, so the node tree is walked
first: every key and list item is noted under its dotted path, duplicate keys and keys YAML reads
as non-text (``yes:``, ``1:``) become issues, and the input limits that must hold before anything
is built (depth, length of numbers and text, agent count, alias expansion) are enforced.  A syntax
error is one issue with line and column, never the offending line's text (it may hold a key).
"""

from __future__ import annotations

from typing import Any

import yaml

from massmem.config.limits import (
    MAX_AGENTS,
    MAX_DEPTH,
    MAX_LINE_ENTRIES,
    MAX_NUMBER_CHARS,
    MAX_STRING_CHARS,
)
from massmem.config.locations import LineMap, Part, format_path
from massmem.errors import ConfigError, ConfigIssue, redact

__all__ = ["parse_yaml"]

#: libyaml's parser when PyYAML was built with it: ~10x faster on a large file, same nodes and marks
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"


def parse_yaml(text: str, source_name: str) -> tuple[Any, LineMap, list[ConfigIssue]]:
    """Parse one YAML document into data, a path->line map, and key issues YAML itself ignores.

    Those are duplicate keys (YAML keeps the last silently) and keys YAML reads
    as non-text (``yes:``, ``1:``).  A syntax error raises ConfigError at once:
    nothing after it can be trusted.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}, []
        lines: LineMap = {}
        issues: list[ConfigIssue] = []
        _check_agent_count(node)
        _record_lines(node, (), lines, issues, set())
        if len(lines) > MAX_LINE_ENTRIES:
            raise _RefusedError(
                f"the config expands to more than {MAX_LINE_ENTRIES:,} keys and list items",
                None,
                "a team file has a few hundred; if it uses aliases (*name), they must not multiply "
                "the document this much",
            )
        data = loader.construct_document(node)
    except _RefusedError as exc:
        raise ConfigError([exc.issue], source_name) from None
    except ValueError as exc:  # a scalar YAML resolved but Python cannot build (a backstop)
        issue = ConfigIssue("", f"a value cannot be read: {exc}", None, "quote it to keep it as text")
        raise ConfigError([issue], source_name) from None
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_yaml_issue(exc, text)], source_name) from None
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigIssue("", f"not valid YAML: {exc}", None, None)], source_name) from None
    except RecursionError:
        raise ConfigError(
            [ConfigIssue("", "the YAML is nested too deeply", None, None)], source_name
        ) from None
    finally:
        loader.dispose()
    return data, lines, issues


def _record_lines(
    node: yaml.Node, prefix: tuple[Part, ...], lines: LineMap, issues: list[ConfigIssue], active: set[int]
) -> None:
    """Walk the composed node tree, noting the 1-based line of every key and list item.

    Runs before construction because PyYAML's constructor rewrites merge keys
    in place.  ``active`` holds the nodes on the current branch so a recursive
    alias cannot loop forever.
    """
    if id(node) in active:
        raise _RefusedError(
            "an alias refers to a mapping or list that contains it",
            node.start_mark.line + 1,
            "a config cannot be recursive; copy the values instead",
        )
    if len(lines) > MAX_LINE_ENTRIES:
        return
    if isinstance(node, yaml.ScalarNode):
        _check_scalar(node, prefix, issues)
        return
    if len(prefix) >= MAX_DEPTH:
        raise _RefusedError(
            f"nesting deeper than {MAX_DEPTH} levels",
            node.start_mark.line + 1,
            "a team config needs a handful of levels; flatten this value",
            path=format_path(prefix),
        )
    active.add(id(node))
    try:
        if isinstance(node, yaml.MappingNode):
            _record_mapping(node, prefix, lines, issues, active)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines.setdefault(format_path((*prefix, index)), item.start_mark.line + 1)
                _record_lines(item, (*prefix, index), lines, issues, active)
    finally:
        active.discard(id(node))


def _record_mapping(
    node: yaml.MappingNode,
    prefix: tuple[Part, ...],
    lines: LineMap,
    issues: list[ConfigIssue],
    active: set[int],
) -> None:
    """Own keys first (flagging duplicates), then keys pulled in by ``<<`` merges."""
    merges: list[yaml.Node] = []
    first_seen: dict[str, int] = {}
    for key_node, value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            merges.append(value_node)
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        key = str(key_node.value)
        line = key_node.start_mark.line + 1
        path = format_path((*prefix, key))
        if key_node.tag != _STR_TAG:
            issues.append(_non_text_key(key, key_node.tag, path, line))
        if key in first_seen:
            issues.append(
                ConfigIssue(
                    path,
                    f"key {key!r} appears twice in the same mapping (first on line {first_seen[key]})",
                    line,
                    "YAML would silently keep only the last one; remove or rename one of them",
                )
            )
            continue
        first_seen[key] = line
        lines[path] = line
        _record_lines(value_node, (*prefix, key), lines, issues, active)
    for merged in merges:
        sources = merged.value if isinstance(merged, yaml.SequenceNode) else [merged]
        for source in sources:
            if isinstance(source, yaml.MappingNode):
                for key_node, value_node in source.value:
                    if isinstance(key_node, yaml.ScalarNode):
                        key = str(key_node.value)
                        lines.setdefault(format_path((*prefix, key)), key_node.start_mark.line + 1)
                        _record_lines(value_node, (*prefix, key), lines, issues, active)


def _non_text_key(key: str, tag: str, path: str, line: int) -> ConfigIssue:
    """YAML reads unquoted ``yes``, ``1`` or ``null`` as non-text; pydantic would only say 'keys should be strings'."""
    kind = tag.rsplit(":", 1)[-1]
    reads = {"bool": "true/false", "null": "null", "int": "a number", "float": "a number"}.get(kind, kind)
    return ConfigIssue(
        path, f"key {key!r} is read by YAML as {reads}, not as text", line, f'put it in quotes: "{key}":'
    )


class _RefusedError(Exception):
    """A YAML document we will not build (self-referencing, enormous, too deep, unreadable numbers)."""

    def __init__(self, message: str, line: int | None, hint: str, *, path: str = ""):
        super().__init__(message)
        self.issue = ConfigIssue(path, message, line, hint)


def _check_scalar(node: yaml.ScalarNode, prefix: tuple[Part, ...], issues: list[ConfigIssue]) -> None:
    """Text longer than :data:`MAX_STRING_CHARS` is an issue; an over-long number is refused.

    Numbers are refused before the document is built: Python raises on integers of more than
    4,300 digits, and no setting needs a hundred.
    """
    line = node.start_mark.line + 1
    size = len(node.value)
    if node.tag in (_INT_TAG, _FLOAT_TAG) and size > MAX_NUMBER_CHARS:
        raise _RefusedError(
            f"a number of {size:,} characters is longer than the limit of {MAX_NUMBER_CHARS}",
            line,
            "no setting needs such a number; quote it if it is meant as text",
            path=format_path(prefix),
        )
    if size > MAX_STRING_CHARS:
        issues.append(
            ConfigIssue(
                format_path(prefix),
                f"a text of {size:,} characters is longer than the limit of {MAX_STRING_CHARS:,}",
                line,
                "shorten it; a system prompt or description is a few thousand characters",
            )
        )


def _check_agent_count(root: yaml.Node) -> None:
    """More than :data:`MAX_AGENTS` agents is refused before anything else looks at them."""
    if not isinstance(root, yaml.MappingNode):
        return
    for key_node, value_node in root.value:
        is_agents = isinstance(key_node, yaml.ScalarNode) and key_node.value == "agents"
        if is_agents and isinstance(value_node, yaml.SequenceNode) and len(value_node.value) > MAX_AGENTS:
            raise _RefusedError(
                f"{len(value_node.value):,} agents is more than the limit of {MAX_AGENTS} per team",
                key_node.start_mark.line + 1,
                "every agent is a concurrent model conversation; split the work into smaller teams",
                path="agents",
            )


def _yaml_issue(exc: yaml.MarkedYAMLError, text: str) -> ConfigIssue:
    """A syntax error with line and column, never the offending line's text (it may hold a key)."""
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    line = mark.line + 1 if mark is not None else None
    message = f"YAML syntax error: {problem}"
    if mark is not None:
        message += f" (line {line}, column {mark.column + 1})"
    if exc.context and exc.problem and exc.context_mark is not None and exc.context_mark is not mark:
        message += f", {exc.context} started on line {exc.context_mark.line + 1}"
    return ConfigIssue("", redact(message), line, _yaml_hint(problem, text, line))


def _yaml_hint(problem: str, text: str, line: int | None) -> str:
    """Guess the usual cause of a YAML error from its wording and the offending line."""
    line_text = text.splitlines()[line - 1] if line and line <= len(text.splitlines()) else ""
    leading = line_text[: len(line_text) - len(line_text.lstrip())]
    if "\\t" in problem or "\t" in leading:
        return "YAML indentation must use spaces, not tabs; replace the tab characters with spaces"
    if "mapping values are not allowed" in problem:
        return "check the indentation of this line, or quote a value that contains ': '"
    if "could not find expected ':'" in problem:
        return "a key is missing its ':' or a quote is not closed"
    if "constructor for the tag" in problem:
        return "custom YAML tags (!something) are not supported; use plain values"
    if "another document" in problem:
        return "a config holds one YAML document; remove the extra '---'"
    if "end of stream" in problem:
        return "a quote or bracket is not closed"
    return "check the indentation and quoting around this line"
