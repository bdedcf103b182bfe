"""massmem.config: the team file format and its loader.

The schema names are imported eagerly (pydantic only).  The loader's names
(``load_config`` and friends) are imported on first use, each from the module
that holds it, so modules that only need the schema, such as the backends, do
not pay for PyYAML; nothing here ever imports a provider SDK, which keeps
``massmem validate`` fast.
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
    from massmem.config.loader import format_issues, issues_as_json, load_config, load_config_text
    from massmem.config.locations import format_path
    from massmem.config.sources import EXAMPLES_PREFIX, example_names, resolve_example

_SOURCE_NAMES = frozenset({"EXAMPLES_PREFIX", "example_names", "resolve_example"})
_LOADER_NAMES = frozenset({"format_issues", "issues_as_json", "load_config", "load_config_text"})


def __getattr__(name: str) -> Any:
    """Import the module holding one of the loader's names on first use (PEP 562)."""
    if name in _LOADER_NAMES:
        from massmem.config import loader

        return getattr(loader, name)
    if name in _SOURCE_NAMES:
        from massmem.config import sources

        return getattr(sources, name)
    if name == "format_path":
        from massmem.config.locations import format_path

        return format_path
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
