"""Pluggable memory stores: one protocol (:class:`MemoryStore`), a registry by type name.

The conversation adapter (:class:`~massmem.memory.stores.conversation_store.ConversationStore`)
wraps an agent's own conversation memory for library code; it is not a YAML type.

Types resolve lazily (``"module:Class"``), so naming a store in a config never imports
Qdrant, ChromaDB or the embedder until the store is built.  ``chroma`` needs the optional
``massmem[chroma]`` extra; without it, building one is a :class:`~massmem.errors.MemoryError_`.
"""

from __future__ import annotations

import importlib
from typing import Any

from massmem.memory.stores.base import MemoryResult, MemoryStore

__all__ = ["MemoryResult", "MemoryStore", "build_store", "known_store_types", "register_store"]

# type name -> "module:Class"; the class has ``from_config(config) -> MemoryStore``
_LAZY: dict[str, str] = {
    "blackboard": "massmem.memory.stores.blackboard:BlackboardStore",
    "chroma": "massmem.memory.stores.chroma_store:ChromaStore",
    "file": "massmem.memory.stores.file_store:FileStore",
    "list": "massmem.memory.stores.list_store:ListStore",
    "mem0": "massmem.memory.stores.mem0_store:Mem0Store",
    "vector": "massmem.memory.stores.vector:VectorStore",
}
_LOADED: dict[str, Any] = {}


def register_store(type_name: str, target: Any) -> None:
    """Add or replace a store type: a class with ``from_config``, or ``"module:Class"``."""
    if isinstance(target, str):
        _LAZY[type_name] = target
        _LOADED.pop(type_name, None)
    else:
        _LOADED[type_name] = target


def known_store_types() -> list[str]:
    return sorted(set(_LAZY) | set(_LOADED))


def _resolve(type_name: str) -> Any:
    if type_name in _LOADED:
        return _LOADED[type_name]
    target = _LAZY.get(type_name)
    if target is None:
        from massmem.errors import UsageError

        raise UsageError(
            f"memory store type {type_name!r} is not available; known types: {', '.join(known_store_types())}"
        )
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    _LOADED[type_name] = cls
    return cls


def build_store(config: Any) -> MemoryStore:
    """Build the store a ``memory_stores`` entry describes."""
    store: MemoryStore = _resolve(config.type).from_config(config)
    return store
