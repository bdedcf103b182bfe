"""``massmem migrate``: a MassGen or DevAll team file rewritten as a massmem config that validates.

The loader accepts MassGen's and DevAll's spellings (:mod:`massmem.config.dialects`) but refuses,
by name, what massmem does not run: MassGen's local tool machinery (MCP servers, custom tools,
workspaces, Claude Code and AG2 agents) and settings for features massmem does not have.  This
module does the removal the refusal asks for, and says exactly what went:

    parse the YAML, keeping the line of every key (``yaml_lines``)
    -> rewrite aliases to massmem's keys, recording every move (``dialects``)
    -> drop what the rewrite refused: tool keys, and whole agents of a refused type
    -> write the YAML (``${VAR}`` text exactly as written, never resolved) and validate it
    -> drop keys the schema calls unknown (features massmem lacks), validate again
    -> comment the output where something was dropped or changed, validate the final text.

The result is either a config that massmem's own loader accepts, or a refusal with the issues
that stopped it (a typo, a bad value, an unknown key inside memory settings): never a file that
would not validate.  Memory settings are never dropped by this step: an unknown key under
``memory`` refuses the migration instead, so what the team remembers cannot change silently.

Only PyYAML, pydantic and the schema are imported, as for ``massmem validate``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from massmem.config.dialects import NOT_RUN, REFUSED_KEYS, REFUSED_TYPES, _Rewriter
from massmem.config.locations import LineMap, Part, format_path, line_for
from massmem.config.redaction import is_secret_path
from massmem.config.yaml_lines import parse_yaml
from massmem.errors import ConfigError, ConfigIssue

__all__ = ["Change", "Dropped", "MigrationResult", "migrate_text"]

#: what an unset ``${VAR}`` stands for while the output is validated (a URL fits every text field)
PLACEHOLDER = "https://unset.invalid"

#: MassGen settings for features massmem does not have, by key: why each is dropped
FEATURE_REASONS: dict[str, str] = {
    "text": "OpenAI's Responses 'text' options (verbosity); massmem does not send them",
    "upload_files": "MassGen uploads these files with the question; massmem sends text only",
    "extra_body": "extra request fields; massmem sends none",
    "top_p": "nucleus sampling; massmem sets temperature only",
    "betas": "Anthropic beta flags (computer use); massmem sends none",
    "enable_image_generation": "image generation; massmem's agents answer in text",
    "enable_audio_generation": "audio generation; massmem's agents answer in text",
    "enable_video_generation": "video generation; massmem's agents answer in text",
    "enable_file_generation": "file generation; massmem's agents answer in text",
    "enable_mcp_command_line": f"MassGen's command-line tool (an MCP server); {NOT_RUN}",
    "permission_mode": f"Claude Code's tool permissions; {NOT_RUN}",
    "allowed_tools": f"MassGen's tool filter for local tools; {NOT_RUN}",
    "exclude_tools": f"MassGen's tool filter for local tools; {NOT_RUN}",
    "append_system_prompt": "Claude Code's prompt addition; massmem has no Claude Code agents",
    "voting_sensitivity": "massmem's voting has no sensitivity setting",
    "coordination": "MassGen's coordination options (planning mode and the like); massmem has none",
}

#: what the dialect rewrite accepts and ignores, by key: why it is not in the output
IGNORED_REASONS: dict[str, str] = {
    "logging_enabled": "massmem has no logging switch; logs go to ui.log_dir",
    "vector_store": "massmem's persistent memory is always Qdrant",
    "index_path": "massmem keeps its indexes under MASSMEM_HOME",
    "memory_path": "massmem keeps its stores under MASSMEM_HOME",
}

#: the top-level order of massmem's own files
_TOP_ORDER = ("description", "session_id", "agents", "memory", "memory_stores", "orchestrator", "ui")
_VAR_NAME = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")
_PATH_PART = re.compile(r'\.?([A-Za-z0-9_\-]+)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')
_UNKNOWN = re.compile(r"^unknown key '(.+)'$")
#: validation rounds at most: unknown keys are dropped per round (a discriminated union reports in steps)
_MAX_ROUNDS = 5


@dataclass(frozen=True)
class Dropped:
    """One thing not carried over: its path as the source spelled it, its line there, and why."""

    path: str
    line: int | None
    reason: str


@dataclass(frozen=True)
class Change:
    """One thing carried over differently: renamed, given a new value, or added as MassGen's default."""

    path: str
    line: int | None
    new_path: str
    description: str


@dataclass
class MigrationResult:
    """What ``massmem migrate`` made of one file.

    ``text`` is the migrated config (it validated) or ``None`` when the file was refused, with
    ``issues`` saying why.  ``unset_variables`` are ``${VAR}`` references with no value in the
    environment given: the output keeps them as written; they must be set before a run.
    """

    source: str
    text: str | None
    dropped: list[Dropped] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    issues: list[ConfigIssue] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)
    unset_variables: list[str] = field(default_factory=list)

    @property
    def runnable(self) -> bool:
        """At least one agent remains and the output validated."""
        return self.text is not None and bool(self.agents)


# ------------------------------------------------------------------------------------- path helpers


def parse_path(path: str) -> tuple[Part, ...]:
    """``agents[1].backend["odd key"]`` -> ``('agents', 1, 'backend', 'odd key')`` (format_path's inverse)."""
    parts: list[Part] = []
    for match in _PATH_PART.finditer(path):
        plain, index, quoted = match.groups()
        if index is not None:
            parts.append(int(index))
        elif quoted is not None:
            parts.append(re.sub(r"\\(.)", r"\1", quoted))
        else:
            parts.append(plain)
    return tuple(parts)


def _under(path: tuple[Part, ...], prefix: tuple[Part, ...]) -> bool:
    return path[: len(prefix)] == prefix


class _Ops:
    """Every step that moved or removed a path, in order, so each source key can be followed."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, tuple[Part, ...], Any]] = []

    def move(self, old: tuple[Part, ...], new: tuple[Part, ...]) -> None:
        self.steps.append(("move", old, new))

    def remove(self, path: tuple[Part, ...]) -> None:
        self.steps.append(("remove", path, None))

    def forward(self, path: tuple[Part, ...], *, renumber: bool = True) -> tuple[Part, ...] | None:
        """Where ``path`` of the source ended up, or None when something removed it.

        ``renumber=False`` leaves list indexes as they were: the path as renamed, not as moved up.
        """
        for kind, at, new in self.steps:
            if kind == "move":
                if _under(path, at):
                    path = (*new, *path[len(at) :])
            elif _under(path, at):
                return None
            elif (
                renumber
                and isinstance(at[-1], int)
                and len(path) >= len(at)
                and path[: len(at) - 1] == at[:-1]
            ):
                index = path[len(at) - 1]
                if isinstance(index, int) and index > at[-1]:  # a later list item moves up one
                    path = (*at[:-1], index - 1, *path[len(at) :])
        return path

    def backward(self, path: tuple[Part, ...], upto: int | None = None) -> tuple[Part, ...]:
        """The source's spelling of a path after the moves (or after the first ``upto`` steps)."""
        for kind, at, new in reversed(self.steps[:upto]):
            if kind == "move" and _under(path, new):
                path = (*at, *path[len(new) :])
            elif kind == "remove" and isinstance(at[-1], int) and len(path) >= len(at):
                index = path[len(at) - 1]
                if path[: len(at) - 1] == at[:-1] and isinstance(index, int) and index >= at[-1]:
                    path = (*at[:-1], index + 1, *path[len(at) :])
        return path


class _RecordingRewriter(_Rewriter):
    """The loader's dialect rewrite, noting every key it moves."""

    def __init__(self, lines: LineMap, ops: _Ops) -> None:
        super().__init__(lines)
        self.ops = ops

    def move_lines(self, old: tuple[Part, ...], new: tuple[Part, ...]) -> None:
        self.ops.move(old, new)
        super().move_lines(old, new)


def _leaves(value: Any, at: tuple[Part, ...] = ()) -> dict[tuple[Part, ...], Any]:
    """Every scalar, list of scalars and empty collection under ``value``, by path."""
    if isinstance(value, dict) and value:
        out: dict[tuple[Part, ...], Any] = {}
        for key, child in value.items():
            out.update(_leaves(child, (*at, key)))
        return out
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        out = {}
        for index, child in enumerate(value):
            out.update(_leaves(child, (*at, index)))
        return out
    return {at: value}


def _unshare(value: Any) -> Any:
    """A copy with no object reachable twice (YAML aliases), so an edit in one place stays there."""
    if isinstance(value, dict):
        return {k: _unshare(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unshare(v) for v in value]
    return value


# ------------------------------------------------------------------------------------- the migration


class _Migration:
    def __init__(self, text: str, source: str, env: Mapping[str, str]) -> None:
        self.text = text
        self.source = source
        self.env = env
        self.ops = _Ops()
        self.dropped: list[Dropped] = []
        self.changes: list[Change] = []
        self.lines: LineMap = {}
        self.source_lines: LineMap = {}

    def run(self) -> MigrationResult:
        try:
            data, lines, issues = parse_yaml(self.text, self.source)
        except ConfigError as err:
            return self.refused(list(err.issues))
        if issues:  # duplicate keys, keys YAML reads as numbers: only the author knows which was meant
            return self.refused(issues)
        if not isinstance(data, dict):
            return self.refused(
                [ConfigIssue("", "the top level must be a mapping of keys like 'agents:'", None, None)]
            )
        data = _unshare(data)
        original = _unshare(data)
        self.lines, self.source_lines = lines, dict(lines)
        rewriter = _RecordingRewriter(lines, self.ops)
        rewriter.team(data)
        self.drop_refused(data, rewriter.issues)
        agents = data.get("agents")
        if isinstance(agents, list) and not agents:
            return self.refused(
                [
                    ConfigIssue(
                        "agents", "no agent remains once the agents massmem does not run are removed", 1, None
                    )
                ]
            )
        text, issues = self.validate_dropping_unknown(data)
        if issues:
            return self.refused(issues)
        self.describe(original, data)
        text = self.annotate(text)
        issues = self.validate(text)
        if issues:  # never expected: the comments are the only difference
            return self.refused(issues)
        ids = [a.get("id") for a in data["agents"] if isinstance(a, dict)]
        return MigrationResult(
            self.source,
            text,
            self.sorted_dropped(),
            sorted(self.changes, key=lambda c: (c.line is None, c.line or 0)),
            [],
            [str(i) for i in ids],
            sorted(self.unset_variables(text)),
        )

    def refused(self, issues: list[ConfigIssue]) -> MigrationResult:
        return MigrationResult(self.source, None, self.sorted_dropped(), [], issues)

    def sorted_dropped(self) -> list[Dropped]:
        """By line; a key inside something dropped whole (an agent) is not listed again."""
        whole = [parse_path(d.path) for d in self.dropped]
        inside = [
            d
            for d in self.dropped
            if any(len(w) < len(parse_path(d.path)) and _under(parse_path(d.path), w) for w in whole)
        ]
        kept = [d for d in self.dropped if d not in inside]
        return sorted(kept, key=lambda d: (d.line is None, d.line or 0, d.path))

    # -- dropping -------------------------------------------------------------------------------------
    def drop(self, path: tuple[Part, ...], reason: str) -> None:
        """Note ``path`` (canonical spelling, just removed) as dropped, at its source line."""
        self.dropped.append(Dropped(format_path(self.ops.backward(path)), line_for(path, self.lines), reason))
        self.ops.remove(path)

    def drop_refused(self, data: dict[str, Any], issues: list[ConfigIssue]) -> None:
        """What the rewrite refused (it already took each key out): whole agents of a refused type go too."""
        doomed: dict[int, str] = {}
        for issue in issues:
            parts = parse_path(issue.path)
            agent = _agent_of_type(parts)
            if agent is not None and NOT_RUN in issue.message:
                doomed.setdefault(agent, _type_reason(data, agent, issue.message))
                continue
            fallback = _fallback_of_type(parts)
            if fallback is not None and NOT_RUN in issue.message:
                self.remove_item(
                    data, fallback, f"a fallback of a type massmem does not run: {issue.message}"
                )
                continue
            self.drop(parts, issue.message)  # the rewrite already took the key out
        for index in sorted(doomed, reverse=True):
            self.remove_item(data, ("agents", index), doomed[index])

    def remove_item(self, data: dict[str, Any], path: tuple[Part, ...], reason: str) -> None:
        """Remove one list item, noting it; the lines of later items move up one."""
        owner: Any = data
        for part in path[:-1]:
            owner = owner[part]
        index = path[-1]
        assert isinstance(index, int)
        self.drop(path, reason)
        del owner[index]
        self.lines = _shift_lines(self.lines, path)

    # -- validating -----------------------------------------------------------------------------------
    def validate(self, text: str) -> list[ConfigIssue]:
        """massmem's own validation of ``text``; unset variables stand in as a placeholder."""
        from massmem.config.loader import load_config_text

        env = dict(self.env)
        for name in self.unset_variables(text):
            env[name] = PLACEHOLDER
        try:
            load_config_text(text, source_name=self.source, env=env)
        except ConfigError as err:
            return list(err.issues)
        return []

    def unset_variables(self, text: str) -> set[str]:
        """``${NAME}`` references with no default whose variable has no value in the environment."""
        return {
            m.group(1)
            for m in _VAR_NAME.finditer(text)
            if m.group(1) and not m.group(2) and not self.env.get(m.group(1))
        }

    def validate_dropping_unknown(self, data: dict[str, Any]) -> tuple[str, list[ConfigIssue]]:
        """Write and validate; unknown keys for features massmem lacks are dropped and it goes again.

        An unknown key that looks like a typo of a real one, or one inside memory settings, is
        kept and refuses the migration: the author must say what was meant.
        """
        for _ in range(_MAX_ROUNDS):
            text = dump(data)
            issues = self.validate(text)
            droppable = [i for i in issues if self.droppable(i)]
            if not droppable:
                return text, [self.at_source(i) for i in issues]
            for issue in droppable:
                parts = parse_path(issue.path)
                owner: Any = data
                try:
                    for part in parts[:-1]:
                        owner = owner[part]
                    owner.pop(parts[-1])
                except (KeyError, IndexError, TypeError, AttributeError):  # not a key of the data after all
                    return text, [self.at_source(i) for i in issues]
                self.drop(parts, _feature_reason(str(parts[-1])))
        return dump(data), [
            ConfigIssue("", "the config did not settle after dropping unknown keys", None, None)
        ]

    @staticmethod
    def droppable(issue: ConfigIssue) -> bool:
        if not _UNKNOWN.match(issue.message):
            return False
        parts = parse_path(issue.path)
        known = bool(parts) and _is_massgen_feature(str(parts[-1]))
        if not known and issue.hint and issue.hint.startswith("did you mean"):
            return False
        memory = {"memory", "memory_stores", "memories"}
        return bool(parts) and not any(p in memory for p in parts[:-1]) and parts[-1] not in memory

    def at_source(self, issue: ConfigIssue) -> ConfigIssue:
        """An issue of the written text, pointed back at the source's spelling and line."""
        parts = parse_path(issue.path)
        if not parts:
            return issue
        line = line_for(parts, self.lines) if issue.line is not None else None
        return ConfigIssue(format_path(self.ops.backward(parts)), issue.message, line, issue.hint)

    # -- reporting ------------------------------------------------------------------------------------
    def describe(self, original: dict[str, Any], data: dict[str, Any]) -> None:
        """Every source value renamed, rewritten, silently ignored, and every value added."""
        kept = _leaves(data)
        reached: set[tuple[Part, ...]] = set()
        renames: dict[tuple[Part, ...], Change] = {}
        for index, (kind, old, _) in enumerate(self.ops.steps):
            source = self.ops.backward(old, index) if kind == "move" else None
            final = self.ops.forward(source) if source is not None else None
            if source is not None and final is not None and source not in renames:
                line = self.source_lines.get(format_path(source))
                renames[source] = Change(
                    format_path(source), line, format_path(final), f"written as {format_path(final)}"
                )
        for path, value in _leaves(original).items():
            if not path:
                continue
            new = self.ops.forward(path)
            line = self.source_lines.get(format_path(path)) or line_for(path, self.source_lines)
            if new is None:
                continue  # removed by a step that said why
            if new not in kept:  # taken out by the rewrite without a word: accepted and ignored
                reason = IGNORED_REASONS.get(str(path[-1]), "massmem has no such setting")
                self.dropped.append(Dropped(format_path(path), line, f"accepted and ignored: {reason}"))
                continue
            reached.add(new)
            now = kept[new]
            if now == value:
                continue  # a rename, if any, is reported once for the key that moved
            shown = "" if is_secret_path(list(new)) else f": {_show(value)} -> {_show(now)}"
            if path in renames:  # renamed and rewritten: one change says both
                renames[path] = Change(
                    format_path(path), line, format_path(new), f"written as {format_path(new)}{shown}"
                )
            else:
                self.changes.append(
                    Change(format_path(path), line, format_path(new), f"value changed{shown}")
                )
        self.changes += renames.values()
        for new, now in kept.items():
            if new in reached or not new or now in ({}, []):
                continue
            shown = "" if is_secret_path(list(new)) else f" = {_show(now)}"
            self.changes.append(
                Change(
                    format_path(self.ops.backward(new)),
                    line_for(new, self.lines),
                    format_path(new),
                    f"added {_last(format_path(new))}{shown} (MassGen's default)",
                )
            )

    def annotate(self, text: str) -> str:
        """A header naming the source and what changed, and a comment above each place that changed."""
        _, out_lines, _ = parse_yaml(text, self.source)
        notes: dict[int, list[str]] = {}

        def note(path: str, message: str) -> None:
            line = line_for(parse_path(path), out_lines) or 1
            notes.setdefault(line, []).append(message)

        for item in self.sorted_dropped():
            note(
                _nearest(parse_path(item.path), self.ops, out_lines),
                f"dropped {_last(item.path)}{_at(item.line)}: {item.reason}",
            )
        for change in self.changes:
            note(change.new_path, f"{change.path}{_at(change.line)}: {change.description}")
        body = text.splitlines()
        out: list[str] = []
        for number, line in enumerate(body, start=1):
            indent = line[: len(line) - len(line.lstrip())]
            out += [f"{indent}# {_one_line(n)}" for n in notes.get(number, [])]
            out.append(line)
        header = [f"# Migrated from {_one_line(self.source)} by `massmem migrate`."]
        dropped = self.sorted_dropped()
        if dropped or self.changes:
            header.append(
                f"# {len(dropped)} dropped, {len(self.changes)} changed; see the comments below "
                "(line numbers are the source's)."
            )
        return "\n".join(header + out) + "\n"


def _agent_of_type(parts: tuple[Part, ...]) -> int | None:
    """``agents[i].type`` or ``agents[i].backend.type`` -> i."""
    if len(parts) >= 3 and parts[0] == "agents" and isinstance(parts[1], int):
        return parts[1] if parts[2:] in (("type",), ("backend", "type")) else None
    return None


def _fallback_of_type(parts: tuple[Part, ...]) -> tuple[Part, ...] | None:
    """``...fallback[k].type`` -> the path of that fallback item."""
    if len(parts) >= 3 and parts[-1] == "type" and parts[-3] == "fallback" and isinstance(parts[-2], int):
        return parts[:-1]
    return None


def _type_reason(data: dict[str, Any], index: int, message: str) -> str:
    agent = data["agents"][index]
    name = agent.get("id") if isinstance(agent, dict) else None
    who = f"agent {name!r}" if isinstance(name, str) else "this agent"
    kind = message.split("'", 2)[1] if message.count("'") >= 2 else "its type"
    for key, what in REFUSED_TYPES.items():
        if kind.endswith(key):
            kind = f"{kind} ({what})"
    return f"{who} is removed: {kind}; {NOT_RUN}"


def _is_massgen_feature(key: str) -> bool:
    return key in REFUSED_KEYS or key in FEATURE_REASONS or key.startswith("command_line_")


def _feature_reason(key: str) -> str:
    if key in REFUSED_KEYS:
        return f"{REFUSED_KEYS[key]}: MassGen's local tool machinery; {NOT_RUN}"
    if key.startswith("command_line_"):
        return f"MassGen's command-line tool settings; {NOT_RUN}"
    if key in FEATURE_REASONS:
        return FEATURE_REASONS[key]
    return f"massmem has no setting '{key}' here"


def _shift_lines(lines: LineMap, removed: tuple[Part, ...]) -> LineMap:
    """The line map after removing list item ``removed``: its paths go, later items' move up one."""
    prefix, index = removed[:-1], removed[-1]
    assert isinstance(index, int)
    out: LineMap = {}
    for path, line in lines.items():
        parts = parse_path(path)
        if (
            len(parts) > len(prefix)
            and parts[: len(prefix)] == prefix
            and isinstance(parts[len(prefix)], int)
        ):
            at = parts[len(prefix)]
            assert isinstance(at, int)
            if at == index:
                continue
            if at > index:
                parts = (*prefix, at - 1, *parts[len(prefix) + 1 :])
        out.setdefault(format_path(parts), line)
    return out


def _nearest(path: tuple[Part, ...], ops: _Ops, lines: LineMap) -> str:
    """The output path nearest a removed source path: its closest ancestor still in the output."""
    parts = list(path)
    while parts:
        parts.pop()
        new = ops.forward(tuple(parts))
        if new is not None and format_path(new) in lines:
            return format_path(new)
    return ""


def _at(line: int | None) -> str:
    return f" (line {line})" if line is not None else ""


def _last(path: str) -> str:
    parts = parse_path(path)
    return str(parts[-1]) if parts and not isinstance(parts[-1], int) else path


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _show(value: Any) -> str:
    shown = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    shown = shown.removesuffix("...").strip()
    return shown if len(shown) <= 60 else shown[:57] + "..."


# ------------------------------------------------------------------------------------- writing YAML


class _Dumper(yaml.SafeDumper):
    """Block style, text with newlines as ``|`` blocks, no anchors (each value written where it is)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump(data: dict[str, Any]) -> str:
    """massmem's YAML for ``data``: top-level keys in massmem's order, values exactly as they are."""
    ordered = {k: data[k] for k in _TOP_ORDER if k in data}
    ordered.update({k: v for k, v in data.items() if k not in ordered})
    return yaml.dump(
        ordered, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
    )


def migrate_text(
    text: str, *, source_name: str = "<config>", env: Mapping[str, str] | None = None
) -> MigrationResult:
    """Migrate one config's text.  ``env`` (default ``os.environ``) only decides which ``${VAR}``
    are unset: every reference is written back exactly as the source had it, never resolved."""
    return _Migration(text, source_name, os.environ if env is None else env).run()
