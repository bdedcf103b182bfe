"""massmem.config: the team file format and its loader.

The schema names are imported eagerly (pydantic only).  The loader's names
(``load_config`` and friends) are imported on first use, so modules that only
need the schema, such as the backends, do not pay for PyYAML; nothing here
ever imports a provider SDK, which keeps ``massmem validate`` fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from massmem.config.schema import (
    BACKEND_TYPES,
    CHAT_PRESETS,
    AgentConfig,
    AgentMemoryOverrides,
    BackendConfig,
    ChatCompletionBackendConfig,
    ClaudeBackendConfig,
    CompressionConfig,
    ConversationMemoryConfig,
    EmbeddingConfig,
    ExtractionLLMConfig,
    GeminiBackendConfig,
    LocalBackendConfig,
    MemoryConfig,
    OpenAIBackendConfig,
    OrchestratorConfig,
    PersistentMemoryConfig,
    QdrantConfig,
    RecordingConfig,
    RetrievalConfig,
    ScriptedBackendConfig,
    ScriptedReply,
    SharedMemoryConfig,
    TeamConfig,
    UIConfig,
    is_safe_id,
)

if TYPE_CHECKING:
    from massmem.config.loader import (
        EXAMPLES_PREFIX,
        example_names,
        format_issues,
        format_path,
        issues_as_json,
        load_config,
        load_config_text,
        resolve_example,
    )

_LOADER_NAMES = frozenset(
    {
        "EXAMPLES_PREFIX",
        "example_names",
        "format_issues",
        "format_path",
        "issues_as_json",
        "load_config",
        "load_config_text",
        "resolve_example",
    }
)


def __getattr__(name: str) -> Any:
    """Import the loader on first use of one of its names (PEP 562)."""
    if name in _LOADER_NAMES:
        from massmem.config import loader

        return getattr(loader, name)
    raise AttributeError(f"module 'massmem.config' has no attribute {name!r}")


__all__ = [
    "BACKEND_TYPES",
    "CHAT_PRESETS",
    "EXAMPLES_PREFIX",
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
    "ScriptedReply",
    "SharedMemoryConfig",
    "TeamConfig",
    "UIConfig",
    "example_names",
    "format_issues",
    "format_path",
    "is_safe_id",
    "issues_as_json",
    "load_config",
    "load_config_text",
    "resolve_example",
]
