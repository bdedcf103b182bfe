"""What a newcomer gets from the shipped local team: right answers, no markup, and how fast.

Runs each question through the CLI in a fresh process (``massmem run -c CONFIG --json``),
the way the README tells a user to, and prints a table: the answer's first words,
whether it is right (it contains an expected word), whether it carries prompt markup,
and the wall time.  Then the memory demo: tell a fact in one process, ask in the next.

    python scripts/bench_local_answers.py                      # @examples/local, 6 questions
    python scripts/bench_local_answers.py --config team.yaml --memory-runs 3

Uses a throw-away MASSMEM_HOME unless ``--home`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from massmem.coordination.scaffolding import find_scaffolding

FACTS: list[tuple[str, tuple[str, ...]]] = [
    ("What is the capital of France?", ("paris",)),
    ("How many days are there in a week?", ("seven", "7")),
    ("What is the largest planet in our solar system?", ("jupiter",)),
    ("What do bees make from nectar?", ("honey",)),
    ("At what temperature in degrees Celsius does water boil at sea level?", ("100",)),
    ("Which gas do plants take in from the air for photosynthesis?", ("carbon dioxide", "co2")),
]


def run(config: str, question: str, env: dict[str, str]) -> tuple[int, str, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "massmem", "run", "-c", config, "--json", question],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=900,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        return done.returncode, (done.stderr.strip().splitlines() or ["?"])[-1], seconds
    return 0, json.loads(done.stdout)["final_answer"], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="@examples/local")
    parser.add_argument("--memory-config", default="@examples/memory")
    parser.add_argument("--memory-runs", type=int, default=1, help="memory demo repetitions (0: skip)")
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="massmem-bench-"))
    env = {**os.environ, "MASSMEM_HOME": str(home)}
    rows, times, right, markup = [], [], 0, 0
    for question, words in FACTS:
        code, answer, seconds = run(args.config, question, env)
        ok = code == 0 and any(w in answer.lower() for w in words)
        dirty = code == 0 and find_scaffolding(answer) is not None
        right += ok
        markup += dirty
        times.append(seconds)
        rows.append((question, "yes" if ok else "NO", "YES" if dirty else "no", f"{seconds:.1f}", answer))

    print(
        f"\n{args.config}: {right}/{len(FACTS)} right, {markup} with markup, "
        f"median {statistics.median(times):.1f} s, max {max(times):.1f} s\n"
    )
    print("| question | right | markup | s | answer |")
    print("|---|---|---|---|---|")
    for q, ok, dirty, s, a in rows:
        print(f"| {q} | {ok} | {dirty} | {s} | {' '.join(a.split())[:90]} |")

    if args.memory_runs:
        recalled = 0
        print(f"\nmemory demo ({args.memory_config}), {args.memory_runs} run(s):\n")
        print("| run | told s | asked s | recalled | answer |")
        print("|---|---|---|---|---|")
        for i in range(args.memory_runs):
            mem_env = {**env, "MASSMEM_HOME": tempfile.mkdtemp(prefix="massmem-mem-")}
            _, _, told = run(args.memory_config, "My favourite colour is green. Remember it.", mem_env)
            code, answer, asked = run(args.memory_config, "What is my favourite colour?", mem_env)
            ok = code == 0 and "green" in answer.lower()
            recalled += ok
            print(
                f"| {i + 1} | {told:.1f} | {asked:.1f} | {'yes' if ok else 'NO'} | {' '.join(answer.split())[:90]} |"
            )
        print(f"\nrecalled {recalled}/{args.memory_runs}")


if __name__ == "__main__":
    main()
