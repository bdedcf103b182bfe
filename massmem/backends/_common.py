"""Small pieces every provider module needs the same way.

Kept private: provider modules import them; nothing above ``backends/`` does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

__all__ = ["is_official", "is_timeout", "is_transport_error", "resolve_key"]

#: packages whose exceptions mean "the network or the connection failed"
_TRANSPORT_PACKAGES = frozenset({"httpx", "httpx2", "httpcore", "httpcore2", "h11", "anyio", "aiohttp"})
_HTTP_PACKAGES = frozenset({"httpx", "httpx2", "httpcore", "httpcore2"})


def _package(exc: BaseException) -> str:
    return (type(exc).__module__ or "").split(".", 1)[0]


def is_timeout(exc: BaseException) -> bool:
    """A read/connect timeout from the HTTP stack (or asyncio's own)."""
    return isinstance(exc, TimeoutError) or (
        _package(exc) in _HTTP_PACKAGES and "Timeout" in type(exc).__name__
    )


def is_transport_error(exc: BaseException) -> bool:
    """A network error an SDK let through unwrapped, typically while a stream is being read."""
    return isinstance(exc, OSError) or _package(exc) in _TRANSPORT_PACKAGES


def is_official(base_url: str | None, default_base_url: str) -> bool:
    return base_url is None or base_url.rstrip("/") == default_base_url.rstrip("/")


def resolve_key(config: Any, env_names: Sequence[str], default_base_url: str) -> str | None:
    """The key from the config, else from the provider's variables — only for its own endpoint.

    The environment's key is never sent to a custom ``base_url``: that would hand it to
    whatever host the URL names.  Such a backend names its key in the config
    (``api_key: ${SOME_VAR}``).
    """
    if config.api_key is not None:
        value = config.api_key.get_secret_value().strip()
        if value:
            return str(value)
    if not is_official(config.base_url, default_base_url):
        return None
    for name in env_names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None
