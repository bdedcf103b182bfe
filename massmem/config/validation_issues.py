"""pydantic's validation errors turned into issues written for people.

Each error kind has a handler that words the message and, where it can guess, a hint: the
allowed keys or values, a did-you-mean, a key that belongs one level down or to another backend
type, the field's whole allowed range.  Input values are echoed only outside secret fields.
For a plain union (``ScriptedReply | str``) pydantic reports one error per member; only the
member the user meant is kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal, TypeAlias, get_args, get_origin

from pydantic import BaseModel, ValidationError

from massmem.config.locations import LineMap, Part, format_path, line_for
from massmem.config.redaction import is_secret_path
from massmem.config.schema import BACKEND_TYPES, MEMORY_STORE_TYPES, AgentConfig
from massmem.config.schema_paths import Where, is_model, model_members, resolve, type_tag, union_members
from massmem.config.wording import did_you_mean, show, show_plain
from massmem.errors import ConfigIssue, redact

__all__ = ["translate"]


def translate(exc: ValidationError, data: Any, lines: LineMap, *, skip_paths: set[str]) -> list[ConfigIssue]:
    """Every pydantic error as a ConfigIssue, with plain-union member noise collapsed."""
    resolved = [(err, resolve(tuple(err["loc"]))) for err in exc.errors(include_url=False)]
    resolved = _pick_union_members(resolved, data)
    issues: list[ConfigIssue] = []
    for err, where in resolved:
        issue = _issue_for(err, where, lines)
        if issue is not None and issue.path not in skip_paths:
            issues.append(issue)
    return issues


def _pick_union_members(resolved: list[tuple[Any, Where]], data: Any) -> list[tuple[Any, Where]]:
    """For ``ScriptedReply | str`` pydantic reports one error per member; keep the one the user meant.

    A mapping was meant as the model, text as the string; anything else gets a
    single "should be text or a mapping" issue (a synthetic ``_union_mismatch`` error).
    """
    out: list[tuple[Any, Where]] = []
    collapsed: set[tuple[Part, ...]] = set()
    for err, where in resolved:
        prefix = where.union_prefix
        if prefix is None:
            out.append((err, where))
            continue
        value = _lookup(data, prefix)
        member = where.union_member
        if isinstance(value, dict):
            if is_model(member):
                out.append((err, where))
        elif isinstance(value, str):
            if member is str:
                out.append((err, where))
        elif prefix not in collapsed:
            collapsed.add(prefix)
            stub = Where(parts=list(prefix), owner=None, annotation=None, union_members=where.union_members)
            out.append(({"type": "_union_mismatch", "input": value}, stub))
    return out


def _lookup(data: Any, parts: tuple[Part, ...]) -> Any:
    for part in parts:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _issue_for(err: Any, where: Where, lines: LineMap) -> ConfigIssue | None:
    """One pydantic error -> one ConfigIssue, with a message and hint written for people."""
    kind = err["type"]
    if kind == "invalid_key":
        return None  # already reported, with its line, while walking the YAML
    parts = list(where.parts)
    if kind == "union_tag_invalid":
        parts.append("type")
    message, hint = _describe(kind, err, where, secret=is_secret_path(parts))
    return ConfigIssue(format_path(parts), message, line_for(parts, lines), hint)


def _describe(kind: str, err: Any, where: Where, *, secret: bool) -> tuple[str, str | None]:
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


def _on_missing(err: Any, where: Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
    if where.parts == ["agents"]:
        return (
            "'agents' is required",
            "add an 'agents:' list with at least one agent (an 'id' and a 'backend')",
        )
    parent = format_path(where.parts[:-1]) or "the top level"
    return f"'{last}' is required", f"add '{last}:' under {parent}"


def _on_extra(err: Any, where: Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
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
    tag = type_tag(owner)
    if tag is not None:
        for member in union_members(AgentConfig.model_fields["backend"].annotation):
            if is_model(member) and key in member.model_fields and type_tag(member) != tag:
                return f"'{key}' belongs to backend type '{type_tag(member)}', not '{tag}'"
    for name, field in owner.model_fields.items():
        for child in model_members(field.annotation):
            if key in child.model_fields:
                return f"'{key}' is a setting inside '{name}'; move it under '{name}:'"
    return None


def _on_tag_invalid(err: Any, where: Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
    tag = str(err.get("ctx", {}).get("tag", ""))
    if where.parts[:1] == ["memory_stores"]:
        hint = did_you_mean(tag, list(MEMORY_STORE_TYPES)) or ""
        hint = f"{hint} " if hint else ""
        return f"unknown memory store type {tag!r}", f"{hint}store types: {', '.join(MEMORY_STORE_TYPES)}"
    hint = did_you_mean(tag, list(BACKEND_TYPES)) or ""
    hint = f"{hint} " if hint else ""
    return f"unknown backend type {tag!r}", f"{hint}backend types: {', '.join(BACKEND_TYPES)}"


def _on_tag_missing(err: Any, where: Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
    if where.parts[:1] == ["memory_stores"]:
        return "the memory store has no 'type'", f"add 'type:' with one of: {', '.join(MEMORY_STORE_TYPES)}"
    return "the backend has no 'type'", f"add 'type:' with one of: {', '.join(BACKEND_TYPES)}"


def _on_literal(err: Any, where: Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
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


def _on_value_error(err: Any, where: Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
    # Validators quote the value they reject; redact in case someone pasted a key into an id.
    return redact(_plain_msg(str(err.get("msg", "")))), None


def _on_list_type(err: Any, where: Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
    if where.parts == ["agents"]:
        return (
            f"'agents' must be a list{got}",
            "write each agent as a list item: '- id: NAME' with a 'backend:' below it",
        )
    return f"should be a list{got}", "write each item on its own line starting with '- '"


def _on_mapping_type(err: Any, where: Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
    if len(where.parts) == 2 and where.parts[0] == "agents":
        return (
            f"each agent must be a mapping with 'id' and 'backend'{got}",
            "indent 'backend:' under '- id: ...'",
        )
    return f"should be a mapping of keys to values{got}", "indent the keys that belong here below this line"


def _on_string_type(err: Any, where: Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
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

    def handler(err: Any, where: Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
        return f"should be {words}{got}", None

    return handler


def _on_bound(err: Any, where: Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
    msg = _plain_msg(str(err.get("msg", "")))
    allowed = _range_text(where)
    return f"{msg}{got}", f"allowed: {allowed}" if allowed else None


def _range_text(where: Where) -> str | None:
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


def _on_too_short(err: Any, where: Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
    if where.parts == ["agents"]:
        return (
            "the team has no agents",
            "add at least one agent under 'agents:' ('- id: NAME' with a 'backend:')",
        )
    if isinstance(value, str):
        return "must not be empty", None
    return _plain_msg(str(err.get("msg", ""))), None


def _on_union_mismatch(err: Any, where: Where, last: str, value: Any, got: str) -> tuple[str, str | None]:
    kinds = [
        "text" if m is str else "a mapping" if is_model(m) else getattr(m, "__name__", "?")
        for m in where.union_members
    ]
    models = [m for m in where.union_members if is_model(m)]
    hint = f"a mapping takes the keys: {', '.join(models[0].model_fields)}" if models else None
    return f"should be {' or '.join(kinds)}{got}", hint


#: error type -> handler(err, where, last key, input value, ", got ..." or "") -> (message, hint)
_Handler: TypeAlias = Callable[[Any, Where, str, Any, str], tuple[str, str | None]]

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
