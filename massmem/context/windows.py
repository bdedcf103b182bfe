"""How many tokens a model's context window holds.

An agent asks :func:`resolve_window` with what it knows, in order of trust:

1. a window **learnt** from the provider itself — a context-length error that named its
   limit (``ContextLengthExceeded.allowed_tokens``);
2. the **config** (``context_window:`` on the backend);
3. the backend's **capabilities** (the local server knows its ``n_ctx``);
4. the **table** below, by model name (common OpenAI, Claude, Gemini, Llama, Gemma, Qwen,
   Mistral models);
5. otherwise unknown: no proactive compression (nothing to compare with), but reactive
   compression still answers the provider's error — and learns the window from it.

The table holds each model family's documented maximum.  A server may run a model with a
smaller window (llama.cpp's ``n_ctx``), which is why a learnt window wins over the table.
"""

from __future__ import annotations

import re

__all__ = ["WINDOW_TABLE", "known_window", "resolve_window"]

_K = 1024

#: (pattern searched in the normalised model name, window) — the first match wins, so the
#: more specific patterns come first.
WINDOW_TABLE: tuple[tuple[str, int], ...] = (
    # OpenAI
    (r"^gpt-5", 400_000),
    (r"^gpt-4\.1", 1_047_576),
    (r"^gpt-4\.5", 128_000),
    (r"^(chatgpt-)?gpt-4o|^chatgpt-4o", 128_000),
    (r"^gpt-4-(turbo|1106|0125|vision)", 128_000),
    (r"^gpt-4-32k", 32_768),
    (r"^gpt-4", 8_192),
    (r"^gpt-3\.5-turbo|^gpt-35-turbo", 16_385),
    (r"^gpt-oss", 131_072),
    (r"^o1-mini", 128_000),
    (r"^o[134](-|$)", 200_000),
    # Anthropic
    (r"^claude-instant|^claude-2\.0", 100_000),
    (r"^claude", 200_000),
    # Google
    (r"^gemini-1\.5-pro", 2_097_152),
    (r"^gemini-1\.0|^gemini-pro$", 32_760),
    (r"^gemini", 1_048_576),
    (r"gemma-?3n", 32 * _K),
    (r"gemma-?3-?(270m|1b)", 32 * _K),
    (r"gemma-?3", 128 * _K),
    (r"gemma", 8 * _K),
    (r"smollm2", 8 * _K),
    # Meta
    (r"llama-?4", 128 * _K),
    (r"llama-?3\.[123]", 128 * _K),
    (r"llama-?3", 8 * _K),
    (r"llama-?2", 4 * _K),
    # others often served locally or through OpenAI-compatible APIs
    (r"qwen-?3", 32 * _K),
    (r"qwen-?2\.5", 32 * _K),
    (r"mixtral|mistral|codestral|ministral", 32 * _K),
    (r"deepseek", 64 * _K),
    (r"grok-?4", 256_000),
    (r"grok", 131_072),
    (r"phi-?3|phi-?4", 16 * _K),
)

_COMPILED = tuple((re.compile(p), w) for p, w in WINDOW_TABLE)


def _normalise(model: str) -> str:
    """``openai/GPT-4o-2024-08-06`` → ``gpt-4o-2024-08-06``; ``llama3.1:8b`` → ``llama3.1:8b``."""
    name = model.strip().lower()
    name = name.rsplit("/", 1)[-1]
    if name.startswith("ft:"):
        name = name[3:]
    return name.replace("_", "-")


def known_window(model: str | None) -> int | None:
    """The documented window of ``model`` from :data:`WINDOW_TABLE`, or None."""
    if not model:
        return None
    name = _normalise(model)
    for pattern, window in _COMPILED:
        if pattern.search(name):
            return window
    return None


def resolve_window(
    *,
    learnt: int | None = None,
    configured: int | None = None,
    capability: int | None = None,
    model: str | None = None,
) -> int | None:
    """The window to plan with: learnt, else configured, else capability, else the table."""
    for value in (learnt, configured, capability):
        if value:
            return int(value)
    return known_window(model)
