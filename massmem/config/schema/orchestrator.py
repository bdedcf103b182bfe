"""The ``orchestrator:`` section: the team loop's limits and the ``share`` tool."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from massmem.config.schema.base import StrictModel

__all__ = ["OrchestratorConfig", "SharedEntriesConfig"]


class SharedEntriesConfig(StrictModel):
    """The ``share`` tool: typed entries an agent publishes for the team (TaskWeaver's shared memory)."""

    enabled: bool = Field(default=False, description="Offer agents the share tool")
    types: list[str] | None = Field(
        default=None, description="Entry types agents may publish (e.g. [plan, finding]); unset: any one word"
    )
    max_chars: int = Field(default=4000, ge=20, le=100_000, description="Longest entry content accepted")
    max_shares_per_turn: int = Field(
        default=3, ge=1, le=20, description="Replies in a row that only share before the agent must act"
    )

    @field_validator("types")
    @classmethod
    def _one_word_types(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        cleaned = [t.strip().lower() for t in v]
        for t in cleaned:
            if not t or len(t) > 40 or not all(c.isalnum() or c in "_-" for c in t):
                raise ValueError(f"entry type {t!r} must be one short word (letters, digits, - or _)")
        if not cleaned:
            raise ValueError("types must name at least one entry type (or be left unset)")
        return list(dict.fromkeys(cleaned))


class OrchestratorConfig(StrictModel):
    timeout: float = Field(default=1800.0, gt=0, description="Seconds for the whole coordination")
    agent_timeout: float | None = Field(default=None, gt=0, description="Seconds for one agent turn")
    max_answers_per_agent: int | None = Field(
        default=None, ge=1, description="New answers one agent may give; then it must vote"
    )
    max_invalid_retries: int = Field(
        default=3, ge=0, le=10, description="Retries for an invalid action before the agent is out"
    )
    max_turns_per_agent: int = Field(
        default=12, ge=1, le=200, description="Safety cap on model turns per agent per question"
    )
    answer_novelty: Literal["lenient", "balanced", "strict"] = Field(
        default="lenient", description="How different a new answer must be from existing ones"
    )
    compression_target_ratio: float = Field(
        default=0.20,
        gt=0.0,
        lt=1.0,
        description="Share kept verbatim when a context-length error forces compression",
    )
    present_final_answer: bool = Field(default=True, description="The winner writes the final answer")
    shared_entries: SharedEntriesConfig = Field(
        default_factory=SharedEntriesConfig, description="Typed entries agents publish for the team"
    )
