"""Events are kind-tagged frozen dataclasses a display can ``match`` on."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from massmem.coordination import events
from massmem.coordination.events import AgentTextDelta, Event, VoteCast


def test_every_event_has_a_unique_kind_and_is_frozen() -> None:
    classes = typing.get_args(Event)
    kinds = [c.__dataclass_fields__["kind"].default for c in classes]
    assert len(set(kinds)) == len(classes) == len(events.__all__) - 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        AgentTextDelta("a", "x").text = "y"  # type: ignore[misc]


def test_events_match_by_class() -> None:
    def describe(event: Event) -> str:
        match event:
            case VoteCast(agent_id=who, target_agent_id=whom, implicit=True):
                return f"{who} stands by {whom}"
            case VoteCast(agent_id=who, target_agent_id=whom):
                return f"{who} votes {whom}"
            case _:
                return event.kind

    assert describe(VoteCast("a", "a", "agent1.1", "", implicit=True)) == "a stands by a"
    assert describe(VoteCast("a", "b", "agent2.1", "")) == "a votes b"
    assert describe(AgentTextDelta("a", "x")) == "agent_text"
