"""No key, header value or masked echo of a key survives anywhere a user or a file can see it.

Header values are secrets (tokens) unless proven otherwise, so ``extra_headers`` are treated
like ``api_key``: masked in ``state.json``, ``sessions show --json`` and ``sessions export``,
and scrubbed from error messages.  A provider that rejects a key echoes a masked form of it
(OpenAI: ``sk-SENTI**********2e1d``); that form is scrubbed too, wherever the error goes
(stderr, the registry's error column).  The run here is real: a CLI process, the official
``openai`` SDK, a loopback server answering 401 with the masked key.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from massmem.errors import redact
from tests.cli.teams import run_massmem
from tests.support.chat_protocol import invalid_key
from tests.support.loopback import LoopbackServer

KEY = "sk-SENTINELKEY-7f3a9c2e1d"
HEADER = "hdr-SENTINEL-5b8e0d4c2a"
MASKED = "sk-SENTI**********2e1d"
#: every sentinel shares this fragment, so one search finds plain, masked and cut-off forms
FRAGMENT = "SENTI"


def _team(server: LoopbackServer) -> str:
    backend = f"""
    backend:
      type: chatcompletion
      model: m
      base_url: {server.url}/v1
      api_key: {KEY}
      max_retries: 0
      extra_headers:
        X-Custom-Auth: {HEADER}
        Proxy-Authorization: Basic {HEADER}"""
    return f"agents:\n  - id: alice{backend}\n  - id: bob{backend}\norchestrator:\n  present_final_answer: false\n"


def test_no_sentinel_in_any_file_stdout_or_stderr(
    tmp_path: Path, massmem_home: Path, loopback: LoopbackServer
) -> None:
    loopback.default = invalid_key(MASKED)
    team = tmp_path / "team.yaml"
    team.write_text(_team(loopback))

    outputs = []
    run = run_massmem("run", "-c", str(team), "--session-id", "leaky", "Where is the key?")
    assert run.returncode != 0 and loopback.requests, run.stderr
    # the headers did reach the server they were configured for
    assert loopback.requests[0].headers["x-custom-auth"] == HEADER
    outputs.append(run)
    for args in (
        ("sessions", "show", "leaky", "--json"),
        ("sessions", "show", "leaky"),
        ("sessions", "export", "leaky"),
        ("sessions", "list", "--json"),
        ("sessions", "list"),
    ):
        done = run_massmem(*args)
        assert done.returncode == 0, done.stderr
        outputs.append(done)
    assert run_massmem("sessions", "export", "leaky", "-o", str(massmem_home / "export.json")).returncode == 0

    for done in outputs:
        assert FRAGMENT not in done.stdout, (done.args, done.stdout)
        assert FRAGMENT not in done.stderr, (done.args, done.stderr)
    files = [p for p in massmem_home.rglob("*") if p.is_file()]
    assert any(p.name == "state.json" for p in files)
    for path in files:
        assert FRAGMENT.encode() not in path.read_bytes(), path

    state = json.loads((massmem_home / "sessions" / "leaky" / "state.json").read_text())
    headers = state["config"]["agents"][0]["backend"]["extra_headers"]
    assert headers == {"X-Custom-Auth": "**********", "Proxy-Authorization": "**********"}


def test_the_key_hint_survives_the_status_line(
    tmp_path: Path, massmem_home: Path, loopback: LoopbackServer
) -> None:
    """The agent's failure is cut to one line for the status; what to do must not be the part cut."""
    loopback.default = invalid_key(MASKED)
    team = tmp_path / "team.yaml"
    team.write_text(_team(loopback))
    run = run_massmem("run", "-c", str(team), "--session-id", "hint", "q")
    assert "Set api_key in the backend config to a key this server accepts." in run.stderr, run.stderr
    row = json.loads(run_massmem("sessions", "list", "--json").stdout)[0]
    assert "Set api_key in the backend config to a key this server accepts." in row["error"]


@pytest.mark.parametrize(
    "echo",
    [
        "sk-SENTI**********2e1d",
        "sk-proj-********************************************2e1d",
        "gsk_ab**********cd",
        "AIzaSy****************4567",
        "sk-ant-api03-...-AbCd",
        "xai-****Zq9",
        "Bearer sk-Se****1d",
    ],
)
def test_redact_matches_masked_keys_a_provider_echoes(echo: str) -> None:
    text = f"Incorrect API key provided: {echo}. You can find your API key at https://example."
    scrubbed = redact(text)
    assert echo not in scrubbed and "***" in scrubbed
    assert scrubbed.startswith("Incorrect API key provided: ") and scrubbed.endswith("at https://example.")


@pytest.mark.parametrize(
    "ordinary",
    ["**bold** text", "a *** b", "2 ** 10 = 1024", "x****", "sk-learn is a library", "pass the sk-ip flag"],
)
def test_redact_leaves_ordinary_text_alone(ordinary: str) -> None:
    assert redact(ordinary) == ordinary
