"""Cold time of session listing with a large registry, and what it imports.

Fills a temporary ``MASSMEM_HOME`` with N sessions (default 1,000: registry rows with
models, questions, turns and last answers, plus a three-turn state file for each), then runs each
listing command several times in a fresh interpreter and prints min / median wall time.
The target: ``massmem run --list-sessions`` at or under 0.4 s cold with 1,000 sessions.
It also checks that no heavy module (provider SDKs, mem0, torch, qdrant) is imported.

    python scripts/bench_sessions.py [--sessions 1000] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HEAVY = (
    "openai",
    "anthropic",
    "google.genai",
    "mem0",
    "torch",
    "qdrant_client",
    "sentence_transformers",
    "llama_cpp",
    "tiktoken",
    "httpx",
)

COMMANDS = {
    "massmem --help": ["--help"],
    "massmem run --list-sessions": ["run", "--list-sessions"],
    "massmem run --list-sessions --all": ["run", "--list-sessions", "--all"],
    "massmem sessions list --json": ["sessions", "list", "--json"],
    "massmem sessions list -n 10 (typer path)": ["sessions", "list", "-n", "10"],
    "massmem sessions show <one>": ["sessions", "show", "bench-0500"],
}

_FILL = """
import json, sqlite3, sys, time
from massmem.sessions import SessionRegistry, SessionState
from massmem.sessions.state import AgentTurn, TurnState, VoteRecord, config_hash, state_path
n = int(sys.argv[1])
registry = SessionRegistry()
registry.create(session_id="schema-probe")  # creates and migrates the file
registry.delete("schema-probe")
models = ["openai:gpt-5-mini", "claude:claude-sonnet-4"]
config = {"agents": [{"id": "alice", "backend": {"type": "openai", "model": "gpt-5-mini"}},
                     {"id": "bob", "backend": {"type": "claude", "model": "claude-sonnet-4"}}]}
base = time.time() - n * 60
rows = []
for i in range(n):
    sid = f"bench-{i:04d}"
    state = SessionState(sid, created_at=base + i * 60, config=config, config_hash=config_hash(config))
    for t in range(1, 4):
        state.add_turn(TurnState(t, f"question {t} of session {i} " + "x" * 200, "an answer " + "y" * 800,
                                 "alice", votes=[VoteRecord("bob", "alice", "good")],
                                 agents=[AgentTurn("alice", input_tokens=900, output_tokens=120)]))
    path = state_path(sid)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state.to_dict()))  # no fsync: the benchmark reads, it does not crash
    last = state.turns[-1]
    rows.append((sid, "completed", state.created_at, state.created_at + 180, "team.yaml", json.dumps(models),
                 last.question, "benchmark team", 3, None, last.final_answer, "alice", state.config_hash))
db = sqlite3.connect(registry.path)
with db:
    db.executemany("INSERT INTO sessions (id, status, created_at, updated_at, config_path, models, question, "
                   "description, turns, error, last_answer, winner, config_hash) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
db.close()
"""


def _time(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "massmem", *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def _heavy_imports(args: list[str], env: dict[str, str]) -> list[str]:
    probe = (
        "import sys, runpy\n"
        f"sys.argv = ['massmem', *{args!r}]\n"
        "try:\n    runpy.run_module('massmem', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    line = [x for x in out.stderr.splitlines() if x.startswith("HEAVY:")][-1]
    return [m for m in line.removeprefix("HEAVY:").split(",") if m]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["MASSMEM_HOME"] = home
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", _FILL, str(ns.sessions)], env=env, check=True)
        fill_s = time.perf_counter() - began
        db_kib = os.path.getsize(os.path.join(home, "sessions.db")) / 1024
        print(
            f"registry: {ns.sessions} sessions × 3 turns, {db_kib:.0f} KiB (filled in {fill_s:.1f} s; "
            f"Python {sys.version.split()[0]})\n"
        )
        rows = []
        for label, args in COMMANDS.items():
            _time(args, env)  # warm the OS file cache (and .pyc files), not the interpreter
            times = [_time(args, env) for _ in range(ns.runs)]
            rows.append((label, min(times), statistics.median(times), _heavy_imports(args, env)))
        width = max(len(r[0]) for r in rows)
        print(f"{'command':<{width}}  {'min s':>6}  {'median s':>8}  heavy imports")
        for label, best, median, heavy in rows:
            print(f"{label:<{width}}  {best:>6.3f}  {median:>8.3f}  {', '.join(heavy) or 'none'}")
        target = next(r for r in rows if r[0] == "massmem run --list-sessions")
        verdict = "OK" if target[2] <= 0.4 else "OVER"
        print(
            f"\nrun --list-sessions with {ns.sessions} sessions: median {target[2]:.3f} s cold "
            f"(target <= 0.4 s): {verdict}"
        )


if __name__ == "__main__":
    main()
