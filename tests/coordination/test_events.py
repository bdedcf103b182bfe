"""Events are kind-tagged frozen dataclasses a display can ``match`` on."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from massmem.coordination import events
from massmem.coordination.events import AgentContextUsage, AgentTextDelta, Event


def test_every_event_has_a_unique_kind_and_is_frozen() -> None:
    classes = typing.get_args(Event)
    kinds = [c.__dataclass_fields__["kind"].default for c in classes]
    assert len(set(kinds)) == len(classes) == len(events.__all__) - 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        AgentTextDelta("a", "x").text = "y"  # type: ignore[misc]


def test_context_usage_percent_is_rounded_and_unknown_without_a_window() -> None:
    def usage(used: int, window: int | None) -> AgentContextUsage:
        return AgentContextUsage("a", 1, used=used, window=window, estimated=True)

    assert usage(450, 900).percent == 50
    assert usage(2, 3).percent == 67  # rounded, not cut
    assert usage(1000, 900).percent == 111  # an overfull context is shown as such
    assert usage(450, None).percent is None
    assert usage(450, 0).percent is None  # a window of 0 is unknown, never a division by zero
