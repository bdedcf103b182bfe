"""massmem: a team of LLM agents that answer together, vote, and remember.

The package root stays light: importing ``massmem`` must not pull in provider
SDKs, mem0, torch or qdrant.  Import the heavier pieces from their modules.

One side effect, on purpose: ONNX Runtime (the local embedder's runtime) ships telemetry
that, from 1.29 on Linux, keeps a device id under ``~/.cache/Microsoft`` and uploads events
to ``mobile.events.data.microsoft.com``.  Only ``ORT_DISABLE_TELEMETRY=1``, read when the
runtime starts, turns all of it off (``onnxruntime.disable_telemetry_events()`` comes too
late: it needs the runtime already started), so it is set here, before anything can import
onnxruntime.  A value the user set is left alone.
"""

import os as _os

_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from massmem.errors import (
    AuthenticationFailed,
    BackendError,
    ConfigError,
    ContextLengthExceeded,
    CoordinationError,
    InvalidResponse,
    MassmemError,
    ProviderUnavailable,
    RateLimited,
    SessionError,
    SessionNotFound,
    StateCorrupt,
    StoreLocked,
    UsageError,
)

__version__ = "0.1.0"

__all__ = [
    "AuthenticationFailed",
    "BackendError",
    "ConfigError",
    "ContextLengthExceeded",
    "CoordinationError",
    "InvalidResponse",
    "MassmemError",
    "ProviderUnavailable",
    "RateLimited",
    "SessionError",
    "SessionNotFound",
    "StateCorrupt",
    "StoreLocked",
    "UsageError",
    "__version__",
]
