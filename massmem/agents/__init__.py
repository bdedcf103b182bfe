"""One agent's turn: prompt assembly hooks, conversation memory, the backend call."""

from massmem.agents.agent import (
    AfterTurnHook,
    Agent,
    ContextBlock,
    ContextProvider,
    TurnContext,
    TurnPlan,
    TurnRecord,
)

__all__ = [
    "AfterTurnHook",
    "Agent",
    "ContextBlock",
    "ContextProvider",
    "TurnContext",
    "TurnPlan",
    "TurnRecord",
]
