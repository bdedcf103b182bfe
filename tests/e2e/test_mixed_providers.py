"""Three agents on three wire protocols — OpenAI Responses, Anthropic Messages, Gemini —
run through the CLI against loopback servers that speak each protocol, via the official SDKs.

Each server plays a model that answers once with a real tool call, then votes for the
first agent's answer with a real tool call, and presents plain text when asked without
tools.  The run must complete, the winner must present, and no API key may appear in
any output or any file massmem wrote.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.teams import run_massmem
from tests.support import anthropic_protocol as anthropic
from tests.support import gemini_protocol as gemini
from tests.support import responses_protocol as responses
from tests.support.loopback import LoopbackServer, Recorded, Reply

pytest.importorskip("anthropic")
pytest.importorskip("google.genai")

KEYS = {
    "gpt": "sk-SENTINEL-responses-0123456789abcdef",
    "claude": "sk-ant-SENTINEL-anthropic-0123456789abcdef",
    "gemini": "AIzaSENTINELgemini0123456789abcdefghij",
}
ANSWERS = {
    "gpt": "Paris is the capital of France.",
    "claude": "The capital of France is Paris, on the Seine.",
    "gemini": "France's capital city is Paris.",
}


def model(
    name: str,
    answer_call: Callable[[dict[str, object]], Reply],
    vote_call: Callable[[dict[str, object]], Reply],
    text: Callable[[str], Reply],
) -> Callable[[Recorded], Reply]:
    """A model that answers once, then always votes for agent1; plain text when given no tools."""
    answered = False

    def respond(request: Recorded) -> Reply:
        nonlocal answered
        body = request.json()
        if not body.get("tools"):
            return text(ANSWERS[name])
        if not answered:
            answered = True
            return answer_call({"content": ANSWERS[name]})
        return vote_call({"agent_id": "agent1", "reason": "the clearest of the answers"})

    return respond


def test_three_protocols_one_team(tmp_path: Path, massmem_home: Path) -> None:
    with LoopbackServer() as gpt, LoopbackServer() as claude, LoopbackServer() as gem:
        gpt.responder = model(
            "gpt",
            lambda a: responses.ResponsesStream().function_call("new_answer", a).completed().reply(),
            lambda a: responses.ResponsesStream().function_call("vote", a).completed().reply(),
            lambda t: responses.text_reply(t),
        )
        claude.responder = model(
            "claude",
            lambda a: anthropic.MessageStream().tool_use("new_answer", a).stop("tool_use").reply(),
            lambda a: anthropic.MessageStream().tool_use("vote", a).stop("tool_use").reply(),
            lambda t: anthropic.text_reply(t),
        )
        gem.responder = model(
            "gemini",
            lambda a: gemini.GeminiStream().function_call("new_answer", a).finish().reply(),
            lambda a: gemini.GeminiStream().function_call("vote", a).finish().reply(),
            lambda t: gemini.text_reply(t),
        )
        team = tmp_path / "team.yaml"
        team.write_text(
            f"""
agents:
  - id: gpt
    backend: {{type: openai, model: gpt-5-mini, base_url: "{gpt.url}/v1", api_key: "{KEYS["gpt"]}"}}
  - id: claude
    backend: {{type: claude, model: claude-sonnet-4-5, base_url: "{claude.url}", api_key: "{KEYS["claude"]}"}}
  - id: gemini
    backend: {{type: gemini, model: gemini-2.5-flash, base_url: "{gem.url}", api_key: "{KEYS["gemini"]}"}}
"""
        )
        done = run_massmem("run", "-c", str(team), "--json", "What is the capital of France?", timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout)
        assert result["winner"] == "gpt"
        assert result["final_answer"] == ANSWERS["gpt"]
        assert result["presented"] is True
        assert {a["author"] for a in result["answers"]} == {"gpt", "claude", "gemini"}
        assert result["vote_counts"] == {"gpt": 3}
        # Every protocol was really spoken: each server got tool-carrying requests.
        for server in (gpt, claude, gem):
            assert any(r.json().get("tools") for r in server.requests)

    written = [p for p in massmem_home.rglob("*") if p.is_file()]
    assert written, "the run should have recorded its session"
    for key in KEYS.values():
        assert key not in done.stdout and key not in done.stderr
        for path in written:
            assert key.encode() not in path.read_bytes(), f"{key[:12]}… leaked into {path}"
