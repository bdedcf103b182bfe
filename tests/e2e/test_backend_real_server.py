"""End to end at the backend level: a shipped team config, the registry, one real llama server.

``@examples/local`` describes two agents on the packaged SmolLM2 135M Instruct model.
Building their backends through the registry must give two agents sharing
one ``llama_cpp.server`` process that massmem started itself; both answer at
the same time, a follow-up turn with history and a JSON-schema vote works,
and the process is gone once both agents are closed.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from massmem.backends.base import JsonSchemaFormat, ModelRequest, collect
from massmem.backends.local_server import LocalServerBackend, default_gguf, running_servers
from massmem.backends.registry import build_backend
from massmem.config.loader import load_config
from massmem.config.schema import LocalBackendConfig
from massmem.messages import AssistantMessage, SystemMessage, UserMessage

pytestmark = pytest.mark.slow

VOTE = JsonSchemaFormat(
    "vote",
    {
        "type": "object",
        "properties": {
            "agent_id": {"type": "string", "enum": ["concise", "explainer"]},
            "reason": {"type": "string", "maxLength": 60},
        },
        "required": ["agent_id", "reason"],
        "additionalProperties": False,
    },
)


async def test_example_team_runs_on_one_real_server(massmem_home: Path) -> None:
    team = load_config("@examples/local", read_dotenv=False)
    configs = [agent.backend for agent in team.agents]
    assert all(isinstance(c, LocalBackendConfig) for c in configs)
    backends = [build_backend(agent.backend, agent_id=agent.id) for agent in team.agents]
    assert all(isinstance(b, LocalServerBackend) for b in backends)
    try:
        question = "Why is the sky blue?"
        first_turn = [
            ModelRequest([SystemMessage(agent.system_message or ""), UserMessage(question)], max_tokens=24)
            for agent in team.agents
        ]
        answers = await asyncio.gather(
            *(collect(b.stream(r)) for b, r in zip(backends, first_turn, strict=True))
        )

        servers = {id(b.server) for b in backends if isinstance(b, LocalServerBackend)}
        assert len(servers) == 1, "agents of one run must share one server"
        server = backends[0].server  # type: ignore[attr-defined]
        assert server is not None and server.spec.gguf == default_gguf()  # read in place from its package
        for answer in answers:
            assert answer.usage is not None and answer.usage.input_tokens > 0
            assert answer.finish_reason in ("stop", "length")

        # Second turn: the history goes back, and the model must answer in the vote schema.
        history = [
            *first_turn[0].messages,
            AssistantMessage(answers[0].text),
            UserMessage("Vote for the best answer."),
        ]
        vote = await collect(
            backends[0].stream(ModelRequest(history, response_format=VOTE, max_tokens=120, temperature=0.0))
        )
        # The grammar fixes keys, types, enums and string length, but lets raw control characters
        # (a newline) into strings: parse leniently, as the coordinator must.
        assert vote.finish_reason == "stop"
        parsed = json.loads(vote.text, strict=False)
        assert parsed["agent_id"] in ("concise", "explainer")
        assert isinstance(parsed["reason"], str)
    finally:
        for backend in backends:
            await backend.aclose()
    assert server.exited()
    assert server not in running_servers()
