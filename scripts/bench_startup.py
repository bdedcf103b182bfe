"""Cold start-up time of the commands a user types most, and what they import.

Runs each command several times in a fresh interpreter (so nothing is cached
in-process) and prints a table of min / median wall time.  It also checks that
no heavy module (provider SDKs, mem0, torch, qdrant) is imported at start-up.

    python scripts/bench_startup.py [--runs 7]
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
    "httpx2",
    "onnxruntime",
    "onnx",
    "chromadb",
)

COMMANDS = {
    "massmem --help": ["--help"],
    "massmem --version": ["--version"],
    "massmem validate @examples/local": ["validate", "@examples/local"],
    "massmem run --list-sessions": ["run", "--list-sessions"],
}


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
    parser.add_argument("--runs", type=int, default=7)
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        # An installed package has its .pyc files; let this run write them like an install would.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["MASSMEM_HOME"] = home
        rows = []
        for label, args in COMMANDS.items():
            _time(args, env)  # warm the OS file cache, not the interpreter
            samples = [_time(args, env) for _ in range(ns.runs)]
            rows.append((label, min(samples), statistics.median(samples), _heavy_imports(args, env)))
    print(f"{'command':<36} {'min s':>7} {'median s':>9}  heavy imports")
    print("-" * 72)
    for label, lo, med, heavy in rows:
        print(f"{label:<36} {lo:>7.3f} {med:>9.3f}  {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
