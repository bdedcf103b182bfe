"""Backend types by name.

The registry maps a config ``type`` to a factory that builds a :class:`Backend`
from its options model.  Factories import their SDK lazily, so registering a
type costs nothing at start-up; third parties add types with :func:`register`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from massmem.backends.base import Backend

__all__ = ["build_backend", "known_types", "register"]

Factory = Callable[..., Backend]

# type name -> "module:function"; resolved on first use so SDK imports stay lazy.
_LAZY: dict[str, str] = {
    "chatcompletion": "massmem.backends.chat_completions:from_config",
    "claude": "massmem.backends.claude:from_config",
    "gemini": "massmem.backends.gemini:from_config",
    "local": "massmem.backends.local_server:from_config",
    "openai": "massmem.backends.openai_responses:from_config",
    "scripted": "massmem.backends.scripted:from_config",
}
_LOADED: dict[str, Factory] = {}


def register(type_name: str, factory: Factory | str) -> None:
    """Add or replace a backend type.  ``factory`` may be ``"module:function"`` to stay lazy."""
    if isinstance(factory, str):
        _LAZY[type_name] = factory
        _LOADED.pop(type_name, None)
    else:
        _LOADED[type_name] = factory


def known_types() -> list[str]:
    return sorted(set(_LAZY) | set(_LOADED))


def _resolve(type_name: str) -> Factory:
    if type_name in _LOADED:
        return _LOADED[type_name]
    target = _LAZY.get(type_name)
    if target is None:
        from massmem.errors import UsageError

        raise UsageError(
            f"backend type {type_name!r} is not available; known types: {', '.join(known_types())}"
        )
    module_name, _, attr = target.partition(":")
    factory: Factory = getattr(importlib.import_module(module_name), attr)
    _LOADED[type_name] = factory
    return factory


def build_backend(config: Any, **context: Any) -> Backend:
    """Build the backend a config describes.  ``context`` carries e.g. ``agent_id`` for error messages."""
    return _resolve(config.type)(config, **context)
