"""The base every config model stands on, and the one rule for names that become paths.

Every section forbids unknown keys, so a typo is an error with a suggestion rather than a
silently ignored setting; ids that end up in file names are checked in one place.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from massmem.ids import is_safe_id

__all__ = ["StrictModel", "check_safe_id"]


def check_safe_id(value: str, what: str) -> str:
    """``value`` unchanged, or a ValueError naming ``what`` (agent id, session_id, ...) and the rule."""
    if not is_safe_id(value):
        raise ValueError(
            f"{what} {value!r} is not a safe name: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit, with no '/' and no '..'"
        )
    return value


class StrictModel(BaseModel):
    """A config section: unknown keys are errors, never silently ignored settings."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False, frozen=False)
