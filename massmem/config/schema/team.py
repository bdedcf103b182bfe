"""The top of a team file: :class:`TeamConfig`, its agents and the ``ui:`` section."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from massmem.config.schema.backends import BackendConfig
from massmem.config.schema.base import StrictModel, check_safe_id
from massmem.config.schema.crosschecks import cross_check
from massmem.config.schema.memory import AgentMemoryOverrides, MemoryConfig
from massmem.config.schema.orchestrator import OrchestratorConfig
from massmem.config.schema.stores import MemoryAttachment, MemoryStoreConfig

__all__ = ["AgentConfig", "TeamConfig", "UIConfig"]


class AgentConfig(StrictModel):
    id: str = Field(description="Unique, file-name-safe id; models only ever see anonymous ids")
    backend: BackendConfig = Field(description="The model behind this agent; `type` picks the section")
    system_message: str | None = Field(default=None, description="The agent's own instructions")
    memory: AgentMemoryOverrides | None = Field(default=None, description="Per-agent memory overrides")
    memories: list[MemoryAttachment] = Field(
        default_factory=list, description="Named memory stores this agent reads and writes"
    )

    @field_validator("id")
    @classmethod
    def _safe(cls, v: str) -> str:
        return check_safe_id(v, "agent id")


class UIConfig(StrictModel):
    display: Literal["auto", "rich", "plain", "none"] = Field(
        default="auto", description="auto: live view on a terminal, plain lines elsewhere"
    )
    show_reasoning: bool = Field(default=False, description="Show reasoning/thinking in the live view")
    log_dir: str | None = Field(default=None, description="Logs and debug dumps; default under MASSMEM_HOME")


class TeamConfig(StrictModel):
    agents: list[AgentConfig] = Field(min_length=1, description="The team, in registration order")
    memory: MemoryConfig = Field(default_factory=MemoryConfig, description="What the team remembers")
    memory_stores: list[MemoryStoreConfig] = Field(
        default_factory=list, description="Named pluggable memory stores agents attach under `memories`"
    )
    orchestrator: OrchestratorConfig = Field(default_factory=OrchestratorConfig, description="The team loop")
    ui: UIConfig = Field(default_factory=UIConfig, description="Display and logs")
    session_id: str | None = Field(default=None, description="Session to use or resume (--session-id wins)")
    description: str | None = Field(default=None, description="Shown in session lists")

    @field_validator("session_id")
    @classmethod
    def _safe(cls, v: str | None) -> str | None:
        return None if v is None else check_safe_id(v, "session_id")

    @model_validator(mode="after")
    def _cross_checked(self) -> TeamConfig:
        """The loader's cross-checks, on this model's own data: the first problem is the error."""
        references = self.model_dump(
            include={
                "agents": {"__all__": {"id", "memories"}},
                "memory_stores": {"__all__": {"name", "type"}},
            }
        )
        for issue in cross_check(references, {}):
            raise ValueError(issue.message)
        return self

    def redacted(self) -> dict[str, Any]:
        """The config as plain data with every secret replaced — safe for logs and session state."""
        return self.model_dump(mode="json", exclude_none=True)
