"""Importing mem0 the massmem way: telemetry off, files under MASSMEM_HOME, offline models.

mem0 reads ``MEM0_TELEMETRY`` and ``MEM0_DIR`` once, while its modules are imported
(``mem0.memory.telemetry`` even builds an analytics client at import time when telemetry
is on).  So the environment has to be right *before* the first ``import mem0``; every
massmem module that needs mem0 calls :func:`import_mem0` instead of importing it directly.

Telemetry stays off unless the user turned it on themselves, by exporting
``MEM0_TELEMETRY=true`` before starting massmem.  ``MEM0_DIR`` (mem0's own config and
history files) defaults to ``$MASSMEM_HOME/mem0`` so nothing is written to ``~/.mem0``.
"""

from __future__ import annotations

import logging
import os
import threading
from types import ModuleType
from typing import Any

from massmem import paths

__all__ = ["import_mem0", "prepare_environment", "telemetry_enabled"]

log = logging.getLogger(__name__)

_lock = threading.Lock()
_mem0: ModuleType | None = None


def prepare_environment() -> None:
    """Set the variables mem0 and Hugging Face read at import time (user settings win)."""
    os.environ.setdefault("MEM0_TELEMETRY", "False")
    os.environ.setdefault("MEM0_DIR", str(paths.home() / "mem0"))
    # The embedder loads from files shipped in a package: never ask a hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def telemetry_enabled() -> bool:
    """Whether the user asked for mem0's telemetry (``MEM0_TELEMETRY`` true before start)."""
    return os.environ.get("MEM0_TELEMETRY", "False").strip().lower() in ("true", "1", "yes")


def import_mem0() -> ModuleType:
    """Import mem0 once per process with telemetry handled; returns the ``mem0`` package."""
    global _mem0
    if _mem0 is not None:
        return _mem0
    with _lock:
        if _mem0 is not None:
            return _mem0
        prepare_environment()
        os.makedirs(os.environ["MEM0_DIR"], exist_ok=True)
        import mem0
        import mem0.memory.main as mem0_main
        import mem0.memory.telemetry as mem0_telemetry

        if not telemetry_enabled():
            # Someone may have imported mem0 before us with the variable unset: switch the
            # already-read flags off as well, and drop the client built at import time.
            _force_telemetry_off(mem0_telemetry, mem0_main)
        _quiet_mem0_loggers()
        _register_providers()
        _mem0 = mem0
        return mem0


def _force_telemetry_off(telemetry: Any, main: Any) -> None:
    telemetry.MEM0_TELEMETRY = False
    main.MEM0_TELEMETRY = False
    client = getattr(telemetry, "client_telemetry", None)
    if client is not None and getattr(client, "posthog", None) is not None:
        try:
            client.close()
        except Exception:  # pragma: no cover - best effort
            log.debug("could not close mem0's telemetry client", exc_info=True)


def _quiet_mem0_loggers() -> None:
    # mem0's qdrant wrapper warns on every instance that fastembed (its optional sparse BM25
    # encoder, which downloads a model) is missing; massmem keeps its own lexical index.
    logging.getLogger("mem0.vector_stores.qdrant").setLevel(logging.ERROR)
    # Without spaCy (an optional mem0 extra that downloads a model) mem0 skips lemmatising
    # and entity boosts; that is expected here, not worth a warning per process.
    logging.getLogger("mem0.utils.spacy_models").setLevel(logging.ERROR)


def _register_providers() -> None:
    """Make mem0's factories able to build massmem's LLM, embedder and vector-store adapters."""
    from mem0.utils.factory import EmbedderFactory, LlmFactory, VectorStoreFactory
    from mem0.vector_stores.configs import VectorStoreConfig

    LlmFactory.register_provider("massmem", "massmem.memory._mem0_adapters.AgentExtractionLLM")
    EmbedderFactory.provider_to_class.setdefault("massmem", "massmem.memory._mem0_adapters.Mem0Embedding")
    VectorStoreFactory.provider_to_class.setdefault(
        "massmem", "massmem.memory._mem0_adapters.StoreVectorStore"
    )
    # VectorStoreConfig checks providers against a private table of config class names.
    known = VectorStoreConfig.__private_attributes__["_provider_configs"].default
    known.setdefault("massmem", "MassmemStoreConfig")
