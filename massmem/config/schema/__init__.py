"""The whole config schema, typed end to end: one module per section of a team file.

A YAML team file is validated into :class:`TeamConfig` once, at load time; nothing past
:mod:`massmem.config` ever sees a raw dict.  Every model forbids unknown keys so a typo is an
error with a suggestion, not a silently ignored setting.  The sections live beside this file
(``backends``, ``memory``, ``stores``, ``orchestrator``, ``team``); this package hands their
names on, so ``from massmem.config.schema import TeamConfig`` is the one import to know.
"""

from __future__ import annotations

from massmem.config.schema.backends import (
    BACKEND_TYPES,
    CHAT_PRESETS,
    LOCAL_CHAT_PRESETS,
    LOCAL_MAX_TOKENS,
    ActionMode,
    BackendConfig,
    ChatCompletionBackendConfig,
    ClaudeBackendConfig,
    GeminiBackendConfig,
    LocalBackendConfig,
    OpenAIBackendConfig,
    ScriptedBackendConfig,
    ScriptedReply,
    ScriptedShare,
)
from massmem.config.schema.memory import (
    AgentMemoryOverrides,
    CompressionConfig,
    ConversationMemoryConfig,
    EmbeddingConfig,
    ExtractionLLMConfig,
    MemoryConfig,
    PersistentMemoryConfig,
    QdrantConfig,
    RecordingConfig,
    RetrievalConfig,
    SharedMemoryConfig,
)
from massmem.config.schema.orchestrator import OrchestratorConfig, SharedEntriesConfig
from massmem.config.schema.stores import (
    MEMORY_STORE_TYPES,
    READ_ONLY_STORE_TYPES,
    BlackboardStoreConfig,
    BlackboardStoreOptions,
    ChromaStoreConfig,
    ChromaStoreOptions,
    FileStoreConfig,
    FileStoreOptions,
    ListStoreConfig,
    ListStoreOptions,
    Mem0StoreConfig,
    Mem0StoreOptions,
    MemoryAttachment,
    MemoryStoreConfig,
    VectorStoreConfig,
    VectorStoreOptions,
)
from massmem.config.schema.team import AgentConfig, TeamConfig, UIConfig
from massmem.ids import SAFE_ID_PATTERN, is_safe_id

__all__ = [
    "BACKEND_TYPES",
    "CHAT_PRESETS",
    "LOCAL_CHAT_PRESETS",
    "LOCAL_MAX_TOKENS",
    "MEMORY_STORE_TYPES",
    "READ_ONLY_STORE_TYPES",
    "SAFE_ID_PATTERN",
    "ActionMode",
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
    "ScriptedReply",
    "ScriptedShare",
    "SharedEntriesConfig",
    "SharedMemoryConfig",
    "TeamConfig",
    "UIConfig",
    "VectorStoreConfig",
    "VectorStoreOptions",
    "is_safe_id",
]
