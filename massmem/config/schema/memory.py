"""The ``memory:`` section (what the team remembers) and an agent's ``memory:`` overrides.

The embedding and Qdrant settings are shared with the named stores of ``memory_stores``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from massmem.config.schema.base import StrictModel, check_safe_id

__all__ = [
    "AgentMemoryOverrides",
    "CompressionConfig",
    "ConversationMemoryConfig",
    "EmbeddingConfig",
    "ExtractionLLMConfig",
    "MemoryConfig",
    "PersistentMemoryConfig",
    "QdrantConfig",
    "RecordingConfig",
    "RetrievalConfig",
    "SharedMemoryConfig",
]


class ConversationMemoryConfig(StrictModel):
    enabled: bool = Field(default=True, description="Keep each agent's messages for the current question")
    max_messages: int | None = Field(default=None, gt=0, description="Keep at most this many messages")


class ExtractionLLMConfig(StrictModel):
    """The LLM mem0 uses for fact extraction.  ``provider: agent`` reuses the agent's own backend."""

    provider: str = Field(default="agent", description="agent (the agent's own backend) or a mem0 provider")
    model: str | None = Field(default=None, description="Model for a mem0-native provider")
    api_key: SecretStr | None = Field(default=None, description="Key for a mem0-native provider")
    base_url: str | None = Field(default=None, description="Endpoint for a mem0-native provider")


class EmbeddingConfig(StrictModel):
    provider: Literal["local", "openai", "azure_openai", "together"] = Field(
        default="local", description="local: all-MiniLM-L6-v2 shipped on PyPI, no download"
    )
    model: str | None = Field(default=None, description="Embedding model for a remote provider")
    api_key: SecretStr | None = Field(default=None, description="Key for a remote provider")
    base_url: str | None = Field(default=None, description="Endpoint for a remote provider")
    dims: int | None = Field(default=None, gt=0, description="Dimension; default: what the embedder gives")


class QdrantConfig(StrictModel):
    mode: Literal["local", "server"] = Field(
        default="local", description="local: embedded, one process; server: docker-compose.qdrant.yml"
    )
    path: str | None = Field(default=None, description="Local store path; default under MASSMEM_HOME")
    host: str | None = Field(default=None, description="Server mode: host name")
    port: int | None = Field(default=None, gt=0, lt=65536, description="Server mode: port (6333)")
    url: str | None = Field(default=None, description="Server mode: full URL instead of host/port")
    api_key: SecretStr | None = Field(default=None, description="Server mode: API key")

    @model_validator(mode="after")
    def _server_needs_address(self) -> QdrantConfig:
        if self.mode == "server" and not (self.url or self.host):
            raise ValueError("qdrant mode 'server' needs 'url' or 'host' (and usually 'port')")
        return self


class PersistentMemoryConfig(StrictModel):
    enabled: bool = Field(default=False, description="Extract, store and retrieve facts across turns")
    on_disk: bool = Field(default=True, description="Keep the store on disk (false: in memory)")
    session_name: str | None = Field(default=None, description="Memory scope; null searches across sessions")
    llm: ExtractionLLMConfig = Field(default_factory=ExtractionLLMConfig)
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    qdrant: QdrantConfig = Field(default_factory=QdrantConfig)

    @field_validator("session_name")
    @classmethod
    def _safe(cls, v: str | None) -> str | None:
        return None if v is None else check_safe_id(v, "session_name")


class CompressionConfig(StrictModel):
    trigger_threshold: float = Field(
        default=0.75, gt=0.0, le=1.0, description="Compress before a call above this share of the window"
    )
    target_ratio: float = Field(default=0.40, gt=0.0, lt=1.0, description="Share of the window kept after")


class RetrievalConfig(StrictModel):
    limit: int = Field(default=5, ge=1, le=100, description="Memories injected per call")
    exclude_recent: bool = Field(
        default=True, description="Leave out turns the conversation holds as history (unless compressed)"
    )


class RecordingConfig(StrictModel):
    record_all_tool_calls: bool = Field(
        default=False, description="Record every tool call, not just workflow tools"
    )
    record_reasoning: bool = Field(default=False, description="Record reasoning/thinking as its own memory")
    sentence_vectors: bool = Field(
        default=True,
        description="Give a user's message of several sentences a vector per sentence too, so a fact said "
        "in passing is found (about twice the embedding work for such messages)",
    )


class SharedMemoryConfig(StrictModel):
    enabled: bool = Field(default=True, description="Share answers and votes between agents, attributed")
    window: int = Field(default=10, ge=1, description="Recent shared entries shown to each agent")
    persistent: bool = Field(
        default=True,
        description="Also keep shared entries in persistent memory (when it is on): agents new to a session_name recall them",
    )


class MemoryConfig(StrictModel):
    enabled: bool = Field(default=True, description="Master switch for every kind of memory")
    conversation_memory: ConversationMemoryConfig = Field(default_factory=ConversationMemoryConfig)
    persistent_memory: PersistentMemoryConfig = Field(default_factory=PersistentMemoryConfig)
    shared_memory: SharedMemoryConfig = Field(default_factory=SharedMemoryConfig)
    compression: CompressionConfig = Field(default_factory=CompressionConfig)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    recording: RecordingConfig = Field(default_factory=RecordingConfig)


class AgentMemoryOverrides(StrictModel):
    """Per-agent changes to the team's memory settings (unset fields inherit)."""

    enabled: bool | None = Field(default=None, description="Memory on/off for this agent")
    persistent: bool | None = Field(default=None, description="Persistent memory on/off for this agent")
    retrieval_limit: int | None = Field(default=None, ge=1, le=100, description="Overrides retrieval.limit")
    exclude_recent: bool | None = Field(default=None, description="Overrides retrieval.exclude_recent")
