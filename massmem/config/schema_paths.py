"""Follow a pydantic error's location through the schema's annotations to the user's own path.

pydantic's ``loc`` holds union tags (``chatcompletion``, ``ScriptedReply``) and ``[key]`` markers
that the user never wrote; walking the annotations alongside it drops them and remembers which
model owns the last key and what type was declared there, which is what a good message needs.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from massmem.config.locations import Part
from massmem.config.schema import TeamConfig

__all__ = ["Where", "is_model", "model_members", "resolve", "type_tag", "union_members", "unwrap"]


@dataclass
class Where:
    """Where a pydantic error points, in the user's terms."""

    parts: list[Part]
    owner: type[BaseModel] | None  # the model whose field the last part names (or should name)
    annotation: Any  # the declared type at that spot, None when unknown
    union_prefix: tuple[Part, ...] | None = None  # where a plain (non-tagged) union chose a member
    union_member: Any = None
    union_members: tuple[Any, ...] = ()


def unwrap(annotation: Any) -> Any:
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


def union_members(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) in (Union, types.UnionType):
        return tuple(a for a in get_args(annotation) if a is not type(None))
    return ()


def is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def type_tag(model: type[BaseModel]) -> str | None:
    """The ``type:`` literal of a backend model, which pydantic uses as its union tag."""
    field = model.model_fields.get("type")
    if field is not None and get_origin(field.annotation) is Literal:
        return str(get_args(field.annotation)[0])
    return None


def _member_for_tag(tag: Part, members: tuple[Any, ...]) -> tuple[Any, bool]:
    """Which union member pydantic meant by ``tag``; the flag says it was a discriminator value."""
    for member in members:
        plain = unwrap(member)
        if is_model(plain) and type_tag(plain) == tag:
            return plain, True
        name = getattr(plain, "__name__", None)
        if name and isinstance(tag, str) and (tag == name or tag.endswith((f"[{name}]", f", {name}]"))):
            return plain, False
    return None, False


def resolve(loc: tuple[Part, ...]) -> Where:
    """Follow pydantic's ``loc`` through the schema, dropping union tags and ``[key]`` markers."""
    where = Where(parts=[], owner=None, annotation=TeamConfig)
    annotation: Any = TeamConfig
    for element in loc:
        if element == "[key]":
            continue
        annotation = unwrap(annotation)
        members = union_members(annotation)
        if members:
            member, tagged = _member_for_tag(element, members)
            if not tagged and where.union_prefix is None:
                where.union_prefix = tuple(where.parts)
                where.union_member = member
                where.union_members = members
            annotation = member
            continue
        where.parts.append(element)
        where.owner = annotation if is_model(annotation) else None
        annotation = _child_annotation(annotation, element)
    where.annotation = unwrap(annotation) if annotation is not None else None
    return where


def _child_annotation(annotation: Any, element: Part) -> Any:
    if is_model(annotation):
        field = annotation.model_fields.get(str(element))
        return field.annotation if field is not None else None
    origin = get_origin(annotation)
    if origin is list:
        return get_args(annotation)[0]
    if origin is dict:
        return get_args(annotation)[1]
    return None


def model_members(annotation: Any) -> list[type[BaseModel]]:
    """Models reachable one step down from a field annotation (through lists, optionals, unions)."""
    annotation = unwrap(annotation)
    if get_origin(annotation) in (list, dict):
        annotation = unwrap(get_args(annotation)[-1])
    members = union_members(annotation) or (annotation,)
    return [m for m in (unwrap(x) for x in members) if is_model(m)]
