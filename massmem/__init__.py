"""massmem: a team of LLM agents that answer together, vote, and remember.

The package root stays light: importing ``massmem`` must not pull in provider
SDKs, mem0, torch or qdrant.  Import the heavier pieces from their modules.
"""

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
