"""Scripted teams for CLI tests: deterministic across several questions in one process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

#: alice answers "Answer one.", "Answer two.", ... (one per question) and votes for herself;
#: bob only votes for alice.  No presentation call, so each question uses exactly two of
#: alice's replies and the final answer is alice's answer.
MULTI_TURN = """
description: two scripted agents for multi-turn tests
agents:
  - id: alice
    backend:
      type: scripted
      replies:
        - new_answer: "Answer one."
        - vote: agent1
        - new_answer: "Answer two."
        - vote: agent1
        - new_answer: "Answer three."
        - vote: agent1
        - new_answer: "Answer four."
        - vote: agent1
  - id: bob
    backend:
      type: scripted
      latency: {bob_latency}
      replies:
        - vote: agent1
          reason: agreed
orchestrator:
  present_final_answer: false
"""


def write_team(folder: Path, *, bob_latency: float = 0.05, name: str = "team.yaml", extra: str = "") -> Path:
    path = folder / name
    path.write_text(MULTI_TURN.format(bob_latency=bob_latency) + extra)
    return path


def run_massmem(
    *args: str,
    stdin: str | None = "",
    timeout: float = 60,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m massmem ARGS`` in a child process: the one way tests run the real CLI.

    The child gets this test's environment (``env`` replaces it whole), ``stdin`` as its
    input (``None``: this process's own), and ``preexec_fn`` runs in it before massmem
    starts (resource limits, say).
    """
    return subprocess.run(
        [sys.executable, "-m", "massmem", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=os.environ.copy() if env is None else env,
        preexec_fn=preexec_fn,
    )
