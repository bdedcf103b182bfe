"""Turn a YAML team file into a validated :class:`TeamConfig`, or explain every problem in it.

A config error is the first thing most people meet, so this module works hard
on the report: every issue found (not just the first) carries the dotted path
(``agents[1].backend.model``), the line in the file, a plain message and, where
we can guess, a hint such as a did-you-mean.  Nothing here imports more than
PyYAML, pydantic, python-dotenv and the schema, so ``massmem validate`` stays
fast and never needs a provider SDK.

The pipeline is: read text -> parse YAML keeping line marks -> interpolate
``${VAR}`` -> structural checks -> ``TeamConfig.model_validate`` -> translate
pydantic's errors into :class:`ConfigIssue` objects.
"""

from __future__ import annotations

import os
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from massmem.config.locations import LineMap, Part, format_path, line_for
from massmem.config.schema import BACKEND_TYPES, MEMORY_STORE_TYPES, AgentConfig, TeamConfig
from massmem.config.schema.crosschecks import cross_check
from massmem.config.wording import did_you_mean, kind_of, show, show_plain
from massmem.errors import ConfigError, ConfigIssue, redact, register_secret

__all__ = [
    "EXAMPLES_PREFIX",
    "MAX_AGENTS",
    "MAX_CONFIG_BYTES",
    "MAX_DEPTH",
    "MAX_NUMBER_CHARS",
    "MAX_STRING_CHARS",
    "example_names",
    "format_issues",
    "format_path",
    "issues_as_json",
    "load_config",
    "load_config_text",
    "resolve_example",
]

#: ``@examples/NAME`` names a config shipped inside the package.
EXAMPLES_PREFIX = "@examples/"


_STR_TAG = "tag:yaml.org,2002:str"
_SAFE_EXAMPLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
#: Escapes, well-formed references, then anything else that starts like a reference.
_VAR_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?")
#: Keys whose values are secret: never echoed, scrubbed from messages.  Header names such as
#: ``Authorization`` or ``X-Api-Key`` match too; ``max_tokens`` must not, ``access_token`` must.
_SECRET_KEY = re.compile(r"(?i)^(?:.*api[_-]?key.*|.*secret.*|.*password.*|authorization|(?:.*[_-])?token)$")
#: Shorter "secrets" are not scrubbed from messages: they would mangle ordinary words.
_MIN_SECRET = 6
#: Stop recording line marks past this many entries (alias bombs must not hang validation).
_MAX_LINE_ENTRIES = 100_000

# Input limits: a team file is a few kilobytes; these bounds are far above any real one and keep
# a wrong path (``-c /dev/zero``), a generated monster or a pasted blob from costing minutes or
# landing in the session registry.  Each refusal names the limit and where it was crossed.
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
#: libyaml's parser when PyYAML was built with it: ~10x faster on a large file, same nodes and marks
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"


# ----------------------------------------------------------------------------- public API


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
    path, source_name = _locate(source)
    text = _read_text(path, source_name)
    merged = dict(os.environ if env is None else env)
    if read_dotenv:
        merged = {**_dotenv_values(path, is_example=_is_example(source)), **merged}
    return load_config_text(text, source_name=source_name, env=merged)


def load_config_text(
    text: str,
    *,
    source_name: str = "<config>",
    env: Mapping[str, str] | None = None,
) -> TeamConfig:
    """Validate config text.  ``env`` (default ``os.environ``) feeds ``${VAR}``; no ``.env`` is read."""
    data, lines, issues = _parse_yaml(text, source_name)
    data, var_issues = _interpolate(data, os.environ if env is None else env, lines)
    issues += var_issues
    secrets = _collect_secrets(data)
    issues += _structure_issues(data, lines)
    if not _is_fatal(data):
        try:
            config = TeamConfig.model_validate(data)
        except ValidationError as exc:
            issues += _translate(exc, data, lines, skip_paths={i.path for i in var_issues})
        else:
            if not issues:
                return config
    issues = [_scrub(issue, secrets) for issue in _dedupe(issues)]
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


def example_names() -> list[str]:
    """Names of the configs shipped in ``massmem/examples``, for ``@examples/NAME`` and listings."""
    from importlib import resources  # only needed for @examples; keeps plain loads lighter

    folder = resources.files("massmem").joinpath("examples")
    try:
        return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))
    except (FileNotFoundError, NotADirectoryError):
        return []


def resolve_example(name: str) -> Path:
    """The file behind ``@examples/NAME`` (``.yaml`` optional); a ConfigError with a did-you-mean if unknown."""
    stem = name[: -len(".yaml")] if name.endswith(".yaml") else name
    names = example_names()
    if _SAFE_EXAMPLE.fullmatch(stem) and stem in names:
        from importlib import resources

        return Path(str(resources.files("massmem").joinpath("examples", f"{stem}.yaml")))
    hint = did_you_mean(stem, names) or ""
    hint = f"{hint} " if hint else ""
    hint += f"available examples: {', '.join(names) or '(none installed)'}"
    issue = ConfigIssue("", f"there is no bundled example named {stem!r}", None, hint)
    raise ConfigError([issue], f"{EXAMPLES_PREFIX}{name}")


# ----------------------------------------------------------------------------- reading


def _is_example(source: str | Path) -> bool:
    return isinstance(source, str) and source.startswith(EXAMPLES_PREFIX)


def _locate(source: str | Path) -> tuple[Path, str]:
    """Map the user's argument to a file and the name used in messages."""
    if _is_example(source):
        name = str(source)[len(EXAMPLES_PREFIX) :]
        return resolve_example(name), str(source)
    return Path(source).expanduser(), str(source)


def _read_text(path: Path, source_name: str) -> str:
    """Read the file, turning every OS-level failure into a ConfigError rather than a traceback.

    At most :data:`MAX_CONFIG_BYTES` (plus one, to notice more) are read: ``-c /dev/zero`` or a
    wrong multi-gigabyte path must fail at once, not fill memory.
    """
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            issue = ConfigIssue(
                "",
                f"the config is larger than {MAX_CONFIG_BYTES:,} bytes (the limit for a team file)",
                None,
                "a team file is a few kilobytes; check that -c names the right file",
            )
            raise ConfigError([issue], source_name)
        return raw.decode("utf-8-sig")
    except FileNotFoundError:
        issue = ConfigIssue("", f"config file not found: {source_name}", None, _missing_file_hint(path))
    except IsADirectoryError:
        issue = ConfigIssue("", f"{source_name} is a directory, not a config file", None, None)
    except UnicodeDecodeError:
        issue = ConfigIssue("", "the file is not UTF-8 text", None, "save it as UTF-8")
    except OSError as exc:
        issue = ConfigIssue("", f"cannot read the file: {exc.strerror or exc}", None, None)
    raise ConfigError([issue], source_name)


def _missing_file_hint(path: Path) -> str:
    """Point people who typed an example's name as a path to the ``@examples/`` form."""
    names = example_names()
    stem = path.stem
    if stem in names:
        return f"a bundled example has that name: use {EXAMPLES_PREFIX}{stem}"
    return f"check the path; bundled examples are used as {EXAMPLES_PREFIX}NAME ({', '.join(names)})"


def _dotenv_values(path: Path, *, is_example: bool) -> dict[str, str]:
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


# ----------------------------------------------------------------------------- YAML


def _parse_yaml(text: str, source_name: str) -> tuple[Any, LineMap, list[ConfigIssue]]:
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
        if len(lines) > _MAX_LINE_ENTRIES:
            raise _RefusedError(
                f"the config expands to more than {_MAX_LINE_ENTRIES:,} keys and list items",
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
    if len(lines) > _MAX_LINE_ENTRIES:
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


# ----------------------------------------------------------------------------- ${VAR}


def _interpolate(data: Any, env: Mapping[str, str], lines: LineMap) -> tuple[Any, list[ConfigIssue]]:
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


def _collect_secrets(data: Any) -> set[str]:
    """Every value under a key-like name, also taught to :func:`redact` so later messages scrub it."""
    found: set[str] = set()

    def walk(value: Any, secret: bool) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                walk(child, secret or (isinstance(key, str) and bool(_SECRET_KEY.search(key))))
        elif isinstance(value, list):
            for item in value:
                walk(item, secret)
        elif secret and isinstance(value, str) and len(value) >= _MIN_SECRET:
            found.add(value)
            register_secret(value)

    walk(data, False)
    return found


def _scrub(issue: ConfigIssue, secrets: set[str]) -> ConfigIssue:
    """Last line of defence: no secret value from this config survives into an issue's text."""
    message, hint = issue.message, issue.hint
    for secret in secrets:
        message = message.replace(secret, "***")
        hint = hint.replace(secret, "***") if hint else hint
    return ConfigIssue(issue.path, message, issue.line, hint)


# ----------------------------------------------------------------------------- structure


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


# ----------------------------------------------------------------------------- schema walking


@dataclass
class _Where:
    """Where a pydantic error points, in the user's terms."""

    parts: list[Part]
    owner: type[BaseModel] | None  # the model whose field the last part names (or should name)
    annotation: Any  # the declared type at that spot, None when unknown
    union_prefix: tuple[Part, ...] | None = None  # where a plain (non-tagged) union chose a member
    union_member: Any = None
    union_members: tuple[Any, ...] = ()


def _unwrap(annotation: Any) -> Any:
    """Drop ``Annotated`` and ``| None``: neither shows up in pydantic's error locations."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def _union_members(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) in (Union, types.UnionType):
        return tuple(a for a in get_args(annotation) if a is not type(None))
    return ()


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _type_tag(model: type[BaseModel]) -> str | None:
    """The ``type:`` literal of a backend model, which pydantic uses as its union tag."""
    field = model.model_fields.get("type")
    if field is not None and get_origin(field.annotation) is Literal:
        return str(get_args(field.annotation)[0])
    return None


def _member_for_tag(tag: Part, members: tuple[Any, ...]) -> tuple[Any, bool]:
    """Which union member pydantic meant by ``tag``; the flag says it was a discriminator value."""
    for member in members:
        plain = _unwrap(member)
        if _is_model(plain) and _type_tag(plain) == tag:
            return plain, True
        name = getattr(plain, "__name__", None)
        if name and isinstance(tag, str) and (tag == name or tag.endswith((f"[{name}]", f", {name}]"))):
            return plain, False
    return None, False


def _resolve(loc: tuple[Part, ...]) -> _Where:
    """Follow pydantic's ``loc`` through the schema, dropping union tags and ``[key]`` markers."""
    where = _Where(parts=[], owner=None, annotation=TeamConfig)
    annotation: Any = TeamConfig
    for element in loc:
        if element == "[key]":
            continue
        annotation = _unwrap(annotation)
        members = _union_members(annotation)
        if members:
            member, tagged = _member_for_tag(element, members)
            if not tagged and where.union_prefix is None:
                where.union_prefix = tuple(where.parts)
                where.union_member = member
                where.union_members = members
            annotation = member
            continue
        where.parts.append(element)
        where.owner = annotation if _is_model(annotation) else None
        annotation = _child_annotation(annotation, element)
    where.annotation = _unwrap(annotation) if annotation is not None else None
    return where


def _child_annotation(annotation: Any, element: Part) -> Any:
    if _is_model(annotation):
        field = annotation.model_fields.get(str(element))
        return field.annotation if field is not None else None
    origin = get_origin(annotation)
    if origin is list:
        return get_args(annotation)[0]
    if origin is dict:
        return get_args(annotation)[1]
    return None


def _model_members(annotation: Any) -> list[type[BaseModel]]:
    """Models reachable one step down from a field annotation (through lists, optionals, unions)."""
    annotation = _unwrap(annotation)
    if get_origin(annotation) in (list, dict):
        annotation = _unwrap(get_args(annotation)[-1])
    members = _union_members(annotation) or (annotation,)
    return [m for m in (_unwrap(x) for x in members) if _is_model(m)]


# ----------------------------------------------------------------------------- error translation


def _translate(exc: ValidationError, data: Any, lines: LineMap, *, skip_paths: set[str]) -> list[ConfigIssue]:
    """Every pydantic error as a ConfigIssue, with plain-union member noise collapsed."""
    resolved = [(err, _resolve(tuple(err["loc"]))) for err in exc.errors(include_url=False)]
    resolved = _pick_union_members(resolved, data)
    issues: list[ConfigIssue] = []
    for err, where in resolved:
        issue = _issue_for(err, where, lines)
        if issue is not None and issue.path not in skip_paths:
            issues.append(issue)
    return issues


def _pick_union_members(resolved: list[tuple[Any, _Where]], data: Any) -> list[tuple[Any, _Where]]:
    """For ``ScriptedReply | str`` pydantic reports one error per member; keep the one the user meant.

    A mapping was meant as the model, text as the string; anything else gets a
    single "should be text or a mapping" issue (a synthetic ``_union_mismatch`` error).
    """
    out: list[tuple[Any, _Where]] = []
    collapsed: set[tuple[Part, ...]] = set()
    for err, where in resolved:
        prefix = where.union_prefix
        if prefix is None:
            out.append((err, where))
            continue
        value = _lookup(data, prefix)
        member = where.union_member
        if isinstance(value, dict):
            if _is_model(member):
                out.append((err, where))
        elif isinstance(value, str):
            if member is str:
                out.append((err, where))
        elif prefix not in collapsed:
            collapsed.add(prefix)
            stub = _Where(parts=list(prefix), owner=None, annotation=None, union_members=where.union_members)
            out.append(({"type": "_union_mismatch", "input": value}, stub))
    return out


def _lookup(data: Any, parts: tuple[Part, ...]) -> Any:
    for part in parts:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _issue_for(err: Any, where: _Where, lines: LineMap) -> ConfigIssue | None:
    """One pydantic error -> one ConfigIssue, with a message and hint written for people."""
    kind = err["type"]
    if kind == "invalid_key":
        return None  # already reported, with its line, while walking the YAML
    parts = list(where.parts)
    if kind == "union_tag_invalid":
        parts.append("type")
    message, hint = _describe(kind, err, where, secret=_is_secret(parts))
    return ConfigIssue(format_path(parts), message, line_for(parts, lines), hint)


def _is_secret(parts: list[Part]) -> bool:
    return any(isinstance(p, str) and _SECRET_KEY.search(p) for p in parts)


def _describe(kind: str, err: Any, where: _Where, *, secret: bool) -> tuple[str, str | None]:
    """Message and hint for one error kind; input values are echoed only for non-secret fields."""
    last = str(where.parts[-1]) if where.parts else ""
    value = err.get("input")
    got = "" if secret else f", got {show(value)}"
    handler = _HANDLERS.get(kind)
    if handler is not None:
        return handler(err, where, last, value, got)
    msg = _plain_msg(err.get("msg", "is not valid"))
    return f"{msg}{got}", None


def _plain_msg(msg: str) -> str:
    """pydantic says 'Input should be ...'; a path already names the thing, so say 'should be ...'."""
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    words = msg.split(" ", 1)
    if len(words) == 2 and words[1].startswith("should"):
        return words[1]
    return msg[:1].lower() + msg[1:]


def _on_missing(err: Any, where: _Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
    if where.parts == ["agents"]:
        return (
            "'agents' is required",
            "add an 'agents:' list with at least one agent (an 'id' and a 'backend')",
        )
    parent = format_path(where.parts[:-1]) or "the top level"
    return f"'{last}' is required", f"add '{last}:' under {parent}"


def _on_extra(err: Any, where: _Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
    owner = where.owner
    fields = list(owner.model_fields) if owner is not None else []
    hint = did_you_mean(last, fields)
    if hint is None and owner is not None:
        hint = _misplaced_hint(last, owner)
    if hint is None and fields:
        hint = f"allowed keys here: {', '.join(fields)}"
    return f"unknown key '{last}'", hint


def _misplaced_hint(key: str, owner: type[BaseModel]) -> str | None:
    """Spot a real key in the wrong place: under a sibling backend type or one level too high."""
    tag = _type_tag(owner)
    if tag is not None:
        for member in _union_members(AgentConfig.model_fields["backend"].annotation):
            if _is_model(member) and key in member.model_fields and _type_tag(member) != tag:
                return f"'{key}' belongs to backend type '{_type_tag(member)}', not '{tag}'"
    for name, field in owner.model_fields.items():
        for child in _model_members(field.annotation):
            if key in child.model_fields:
                return f"'{key}' is a setting inside '{name}'; move it under '{name}:'"
    return None


def _on_tag_invalid(err: Any, where: _Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
    tag = str(err.get("ctx", {}).get("tag", ""))
    if where.parts[:1] == ["memory_stores"]:
        hint = did_you_mean(tag, list(MEMORY_STORE_TYPES)) or ""
        hint = f"{hint} " if hint else ""
        return f"unknown memory store type {tag!r}", f"{hint}store types: {', '.join(MEMORY_STORE_TYPES)}"
    hint = did_you_mean(tag, list(BACKEND_TYPES)) or ""
    hint = f"{hint} " if hint else ""
    return f"unknown backend type {tag!r}", f"{hint}backend types: {', '.join(BACKEND_TYPES)}"


def _on_tag_missing(err: Any, where: _Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
    if where.parts[:1] == ["memory_stores"]:
        return "the memory store has no 'type'", f"add 'type:' with one of: {', '.join(MEMORY_STORE_TYPES)}"
    return "the backend has no 'type'", f"add 'type:' with one of: {', '.join(BACKEND_TYPES)}"


def _on_literal(err: Any, where: _Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
    allowed = _literal_values(where.annotation) or re.findall(
        r"'([^']*)'", str(err.get("ctx", {}).get("expected", ""))
    )
    shown = "this value" if got == "" else repr(value) if isinstance(value, str) else show(value)
    hint = did_you_mean(str(value), allowed) if isinstance(value, str) and got else None
    hint = f"{hint} " if hint else ""
    return f"{shown} is not a valid '{last}'", f"{hint}choose one of: {', '.join(allowed)}"


def _literal_values(annotation: Any) -> list[str]:
    if get_origin(annotation) is Literal:
        return [str(a) for a in get_args(annotation)]
    return []


def _on_value_error(err: Any, where: _Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
    # Validators quote the value they reject; redact in case someone pasted a key into an id.
    return redact(_plain_msg(str(err.get("msg", "")))), None


def _on_list_type(err: Any, where: _Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
    if where.parts == ["agents"]:
        return (
            f"'agents' must be a list{got}",
            "write each agent as a list item: '- id: NAME' with a 'backend:' below it",
        )
    return f"should be a list{got}", "write each item on its own line starting with '- '"


def _on_mapping_type(err: Any, where: _Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
    if len(where.parts) == 2 and where.parts[0] == "agents":
        return (
            f"each agent must be a mapping with 'id' and 'backend'{got}",
            "indent 'backend:' under '- id: ...'",
        )
    return f"should be a mapping of keys to values{got}", "indent the keys that belong here below this line"


def _on_string_type(err: Any, where: _Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
    hint = None
    if isinstance(value, bool | int | float):
        hint = (
            "put the value in quotes"
            if not got
            else f'put the value in quotes: {last}: "{show_plain(value)}"'
        )
    return f"should be text{got}", hint


def _on_number(kind: str) -> _Handler:
    words = {"int": "a whole number", "float": "a number", "bool": "true or false"}[kind]

    def handler(err: Any, where: _Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
        return f"should be {words}{got}", None

    return handler


def _on_bound(err: Any, where: _Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
    msg = _plain_msg(str(err.get("msg", "")))
    allowed = _range_text(where)
    return f"{msg}{got}", f"allowed: {allowed}" if allowed else None


def _range_text(where: _Where) -> str | None:
    """The field's full allowed range from its constraints, e.g. 'from 0 to 2'."""
    owner, last = where.owner, str(where.parts[-1]) if where.parts else ""
    field = owner.model_fields.get(last) if owner is not None else None
    if field is None:
        return None
    low = high = None
    for item in field.metadata:
        for attr, text in (("ge", "at least"), ("gt", "more than"), ("le", "at most"), ("lt", "less than")):
            bound = getattr(item, attr, None)
            if bound is not None:
                entry = f"{text} {_num(bound)}"
                if attr in ("ge", "gt"):
                    low = entry
                else:
                    high = entry
    return " and ".join(x for x in (low, high) if x) or None


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _on_too_short(err: Any, where: _Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
    if where.parts == ["agents"]:
        return (
            "the team has no agents",
            "add at least one agent under 'agents:' ('- id: NAME' with a 'backend:')",
        )
    if isinstance(value, str):
        return "must not be empty", None
    return _plain_msg(str(err.get("msg", ""))), None


def _on_union_mismatch(err: Any, where: _Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
    kinds = [
        "text" if m is str else "a mapping" if _is_model(m) else getattr(m, "__name__", "?")
        for m in where.union_members
    ]
    models = [m for m in where.union_members if _is_model(m)]
    hint = f"a mapping takes the keys: {', '.join(models[0].model_fields)}" if models else None
    return f"should be {' or '.join(kinds)}{got}", hint


#: error type -> handler(err, where, last key, input value, ", got ..." or "") -> (message, hint)
_Handler: TypeAlias = Callable[[Any, _Where, str, Any, str], tuple[str, str | None]]

_HANDLERS: dict[str, _Handler] = {
    "missing": _on_missing,
    "extra_forbidden": _on_extra,
    "union_tag_invalid": _on_tag_invalid,
    "union_tag_not_found": _on_tag_missing,
    "literal_error": _on_literal,
    "value_error": _on_value_error,
    "assertion_error": _on_value_error,
    "list_type": _on_list_type,
    "model_type": _on_mapping_type,
    "model_attributes_type": _on_mapping_type,
    "dict_type": _on_mapping_type,
    "string_type": _on_string_type,
    "int_parsing": _on_number("int"),
    "int_type": _on_number("int"),
    "int_from_float": _on_number("int"),
    "float_parsing": _on_number("float"),
    "float_type": _on_number("float"),
    "bool_parsing": _on_number("bool"),
    "bool_type": _on_number("bool"),
    "greater_than": _on_bound,
    "greater_than_equal": _on_bound,
    "less_than": _on_bound,
    "less_than_equal": _on_bound,
    "too_short": _on_too_short,
    "string_too_short": _on_too_short,
    "_union_mismatch": _on_union_mismatch,
}


# ----------------------------------------------------------------------------- helpers


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
