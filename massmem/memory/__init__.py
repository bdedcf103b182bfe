"""massmem.memory: conversation, persistent (mem0 + Qdrant), shared memory, debug dumps.

Importing this package is cheap: the names below load their modules on first use, and
those modules import torch, sentence-transformers, mem0 and qdrant-client only inside the
functions that need them.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ConversationMemory": "massmem.memory.conversation",
    "PersistentMemory": "massmem.memory.persistent",
    "MemoryHit": "massmem.memory.persistent",
    "RecordResult": "massmem.memory.persistent",
    "Winner": "massmem.memory.persistent",
    "SharedMemory": "massmem.memory.shared",
    "SharedEntry": "massmem.memory.shared",
    "ScopedEntry": "massmem.memory.scoped_entries",
    "Embedder": "massmem.memory.embedder",
    "create_embedder": "massmem.memory.embedder",
    "open_store": "massmem.memory.store",
    "close_all_stores": "massmem.memory.store",
    "backend_extract_fn": "massmem.memory.extraction",
    "write_memory_debug": "massmem.memory.debug",
    "check_memory_setup": "massmem.memory.doctor",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'massmem.memory' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
