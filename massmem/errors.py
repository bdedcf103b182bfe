"""The massmem exception tree.

Everything massmem raises on purpose derives from :class:`MassmemError`, so a
caller can catch one class.  Provider SDK exceptions never escape
``massmem.backends``: each backend translates them at the boundary.

::

    MassmemError
    ├── ConfigError                 a config file or option is wrong (carries every issue found)
    ├── UsageError                  a command was called wrongly (bad id, missing argument)
    ├── BackendError                a model call failed; ``.provider`` and ``.agent_id`` say where
    │   ├── ContextLengthExceeded   the request did not fit the model's window (numbers kept if known)
    │   ├── RateLimited             429 / quota; ``.retry_after`` in seconds when the provider said
    │   ├── AuthenticationFailed    bad or missing key; the message names the variable to set
    │   ├── ProviderUnavailable     5xx, timeouts, dropped connections — worth retrying
    │   └── InvalidResponse         the provider answered something we cannot parse
    ├── SessionError                session registry or state problems
    │   ├── SessionNotFound
    │   └── StateCorrupt            an on-disk file could not be read; it was kept aside, not reset
    ├── StorageError                a file or folder under MASSMEM_HOME cannot be written (full disk, …)
    ├── MemoryError_                memory store problems
    │   └── StoreLocked             another process holds an embedded store
    └── CoordinationError           the team loop itself could not proceed

Messages are written for the person at the terminal: what is wrong, where,
and what to do.  They must never contain secrets; :func:`redact` helps
backends scrub text that came from a provider.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "AuthenticationFailed",
    "BackendError",
    "ConfigError",
    "ConfigIssue",
    "ContextLengthExceeded",
    "CoordinationError",
    "InvalidResponse",
    "MassmemError",
    "MemoryError_",
    "ProviderUnavailable",
    "RateLimited",
    "SessionError",
    "SessionNotFound",
    "StateCorrupt",
    "StorageError",
    "StoreLocked",
    "UsageError",
    "redact",
]


class MassmemError(Exception):
    """Root of every error massmem raises deliberately."""


class UsageError(MassmemError):
    """A command or API was called with arguments that cannot work."""


class ConfigIssue:
    """One problem in a config file: where it is and what to do about it."""

    __slots__ = ("hint", "line", "message", "path")

    def __init__(self, path: str, message: str, line: int | None = None, hint: str | None = None):
        self.path = path
        self.line = line
        self.message = message
        self.hint = hint

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "message": self.message, "hint": self.hint}

    def __str__(self) -> str:
        where = self.path or "<root>"
        if self.line is not None:
            where = f"{where} (line {self.line})"
        text = f"{where}: {self.message}"
        if self.hint:
            text += f" — {self.hint}"
        return text

    def __repr__(self) -> str:
        return f"ConfigIssue({str(self)!r})"


class ConfigError(MassmemError):
    """A config is invalid.  ``issues`` lists every problem found, not just the first."""

    def __init__(self, issues: Iterable[ConfigIssue], source: str | None = None):
        self.issues = list(issues)
        self.source = source
        head = f"{source}: " if source else ""
        count = len(self.issues)
        lines = [f"{head}{count} problem{'s' if count != 1 else ''} in config"]
        lines += [f"  - {issue}" for issue in self.issues]
        super().__init__("\n".join(lines))


class BackendError(MassmemError):
    """A model call failed.  Subclasses say how; ``retryable`` says whether trying again can help."""

    retryable = False

    def __init__(self, message: str, *, provider: str | None = None, agent_id: str | None = None):
        super().__init__(redact(message))
        self.provider = provider
        self.agent_id = agent_id

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class ContextLengthExceeded(BackendError):
    """The request was longer than the model's context window."""

    def __init__(
        self,
        message: str,
        *,
        requested_tokens: int | None = None,
        allowed_tokens: int | None = None,
        provider: str | None = None,
        agent_id: str | None = None,
    ):
        super().__init__(message, provider=provider, agent_id=agent_id)
        self.requested_tokens = requested_tokens
        self.allowed_tokens = allowed_tokens


class RateLimited(BackendError):
    """The provider asked us to slow down."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        provider: str | None = None,
        agent_id: str | None = None,
    ):
        super().__init__(message, provider=provider, agent_id=agent_id)
        self.retry_after = retry_after


class AuthenticationFailed(BackendError):
    """The key is missing, wrong or lacks permission."""


class ProviderUnavailable(BackendError):
    """The provider could not be reached or failed on its side."""

    retryable = True


class InvalidResponse(BackendError):
    """The provider's answer could not be understood."""


class SessionError(MassmemError):
    """Session registry or session state problem."""


class SessionNotFound(SessionError):
    """No session has that id."""


class StateCorrupt(SessionError):
    """A state file could not be read.  It has been moved aside, never silently reset."""


class StorageError(MassmemError):
    """The disk refused a write or a path is not what massmem needs (a file where a folder goes).

    The message names the path and what to do; the CLI exits 1 with it, never a traceback.
    """


class MemoryError_(MassmemError):  # noqa: N801 - avoid shadowing the builtin MemoryError
    """A memory store failed."""


class StoreLocked(MemoryError_):
    """An embedded store is already open in another process."""


class CoordinationError(MassmemError):
    """The team loop could not proceed (e.g. every agent failed)."""


_SECRET_PATTERNS = [
    # Masked keys a provider echoes back ("sk-SENTI**********3XYZ", "sk-ant-api03-...AbCd"): the
    # visible ends still identify the key.  Four or more stars between word characters, or a
    # known key prefix around an ellipsis; Markdown's ** and "a *** b" stay untouched.
    re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*\*{4,}[A-Za-z0-9][A-Za-z0-9_\-]*"),
    re.compile(r"(?:sk-|gsk_|xai-|AIza)[A-Za-z0-9_\-]*(?:\.{3}|…)[A-Za-z0-9_\-]*[A-Za-z0-9]"),
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"sk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"gsk_[A-Za-z0-9]{8,}"),
    re.compile(r"xai-[A-Za-z0-9]{8,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}"),
    re.compile(r"(?i)((?:api[_-]?key|x-api-key|x-goog-api-key)[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9._\-]{6,}"),
]
_KNOWN_SECRETS: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret so :func:`redact` scrubs it even if it matches no known pattern."""
    if value and len(value) >= 6:
        _KNOWN_SECRETS.add(value)


def redact(text: str) -> str:
    """Replace anything that looks like an API key, or a masked echo of one, with ``***``."""
    for secret in _KNOWN_SECRETS:
        if secret in text:
            text = text.replace(secret, "***")
    for pattern in _SECRET_PATTERNS:
        # Patterns with a group keep their prefix ("Bearer ", "api_key=") and hide the value.
        replacement = (lambda m: m.group(1) + "***") if pattern.groups else "***"
        text = pattern.sub(replacement, text)
    return text
