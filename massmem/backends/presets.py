"""Where each OpenAI-compatible provider lives and which variable holds its key.

A ``chatcompletion`` backend names a ``provider`` instead of spelling out a URL
and a key.  Cloud presets need a key and say which environment variable it
comes from, so a missing or rejected key produces a message that tells the
user exactly what to set.  Local presets (servers on this machine) need no
key; massmem sends a placeholder because the SDK insists on one.

This module is plain data: importing it costs nothing and pulls in no SDK.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LOCAL_PLACEHOLDER_KEY", "PRESETS", "ChatPreset", "get_preset"]

#: Sent as the bearer token to servers that do not check keys (the SDK requires a value).
LOCAL_PLACEHOLDER_KEY = "massmem-no-key"


@dataclass(frozen=True, slots=True)
class ChatPreset:
    """One provider: its endpoint and the environment variable holding its key (None: no key needed)."""

    name: str
    base_url: str
    key_env: str | None = None

    @property
    def needs_key(self) -> bool:
        return self.key_env is not None


PRESETS: dict[str, ChatPreset] = {
    preset.name: preset
    for preset in (
        ChatPreset("openai", "https://api.openai.com/v1", "OPENAI_API_KEY"),
        ChatPreset("grok", "https://api.x.ai/v1", "XAI_API_KEY"),
        ChatPreset("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
        ChatPreset("together", "https://api.together.xyz/v1", "TOGETHER_API_KEY"),
        ChatPreset("cerebras", "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY"),
        ChatPreset("fireworks", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
        ChatPreset("openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
        ChatPreset("zai", "https://api.z.ai/api/paas/v4", "ZAI_API_KEY"),
        ChatPreset("vllm", "http://localhost:8000/v1"),
        ChatPreset("sglang", "http://localhost:30000/v1"),
        ChatPreset("lmstudio", "http://localhost:1234/v1"),
        ChatPreset("ollama", "http://localhost:11434/v1"),
        ChatPreset("llamacpp", "http://localhost:8080/v1"),
    )
}


def get_preset(name: str) -> ChatPreset:
    """The preset called ``name``; a clear error naming the known ones otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        from massmem.errors import UsageError

        raise UsageError(f"unknown provider {name!r}; known providers: {', '.join(PRESETS)}") from None
