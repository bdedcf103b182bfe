"""Secret values in a team file: found by their key's name, taught to :func:`~massmem.errors.redact`,
and scrubbed from every issue, so no key reaches a terminal through a config error.
"""

from __future__ import annotations

import re
from typing import Any

from massmem.config.locations import Part
from massmem.errors import ConfigIssue, register_secret

__all__ = ["collect_secrets", "is_secret_path", "scrub"]

#: Keys whose values are secret: never echoed, scrubbed from messages.  Header names such as
#: ``Authorization`` or ``X-Api-Key`` match too; ``max_tokens`` must not, ``access_token`` must.
_SECRET_KEY = re.compile(r"(?i)^(?:.*api[_-]?key.*|.*secret.*|.*password.*|authorization|(?:.*[_-])?token)$")
#: Shorter "secrets" are not scrubbed from messages: they would mangle ordinary words.
_MIN_SECRET = 6


def collect_secrets(data: Any) -> set[str]:
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


def scrub(issue: ConfigIssue, secrets: set[str]) -> ConfigIssue:
    """Last line of defence: no secret value from this config survives into an issue's text."""
    message, hint = issue.message, issue.hint
    for secret in secrets:
        message = message.replace(secret, "***")
        hint = hint.replace(secret, "***") if hint else hint
    return ConfigIssue(issue.path, message, issue.line, hint)


def is_secret_path(parts: list[Part]) -> bool:
    """Whether a path runs through a secret key, so the value there must never be echoed."""
    return any(isinstance(p, str) and _SECRET_KEY.search(p) for p in parts)
