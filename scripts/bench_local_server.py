"""Time the local model path: finding the GGUF, server start, first token, decode speed.

Usage:  python scripts/bench_local_server.py [--n-ctx 512] [--runs 5] [--max-tokens 64] [--threads N]

Runs entirely on 127.0.0.1 with the packaged SmolLM2 135M Instruct model and
prints a table.  MASSMEM_HOME points at a temporary directory unless already set.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time

from massmem.backends.base import ModelRequest
from massmem.messages import SystemMessage, TextDelta, Usage, UserMessage


async def measure(args: argparse.Namespace) -> list[tuple[str, str]]:
    from massmem.backends.local_server import LocalServerBackend, default_gguf
    from massmem.config.schema import LocalBackendConfig

    rows: list[tuple[str, str]] = []
    t0 = time.perf_counter()
    gguf = default_gguf()
    rows.append(("GGUF lookup (first time)", f"{(time.perf_counter() - t0) * 1000:.1f} ms"))
    t0 = time.perf_counter()
    default_gguf()
    rows.append(("GGUF lookup (reused)", f"{(time.perf_counter() - t0) * 1000:.1f} ms"))

    config = LocalBackendConfig(type="local", gguf=str(gguf), n_ctx=args.n_ctx, n_threads=args.threads)
    backend = LocalServerBackend(config)
    t0 = time.perf_counter()
    await backend.start()
    assert backend.server is not None
    rows.append(("server start (spawn -> /v1/models 200)", f"{time.perf_counter() - t0:.2f} s"))
    rows.append(("threads", str(backend.server.spec.n_threads)))

    firsts: list[float] = []
    speeds: list[float] = []
    prompt_tokens = 0
    for run in range(args.runs):
        request = ModelRequest(
            [SystemMessage("You are helpful."), UserMessage(f"Tell me a story about the sea, part {run}.")],
            max_tokens=args.max_tokens,
            temperature=0.7,
        )
        start = time.perf_counter()
        first: float | None = None
        last = start
        tokens = 0
        async for event in backend.stream(request):
            if isinstance(event, TextDelta):
                last = time.perf_counter()
                first = first if first is not None else last - start
            if isinstance(event, Usage):
                tokens, prompt_tokens = event.output_tokens, event.input_tokens
        if first is None or tokens < 2:
            continue
        firsts.append(first)
        speeds.append((tokens - 1) / max(last - start - first, 1e-9))
        label = "first token, first call (SDK import, cold prompt)" if run == 0 else None
        if label:
            rows.append((label, f"{first * 1000:.0f} ms"))
    warm = firsts[1:] or firsts
    rows.append((f"first token, warm (median of {len(warm)})", f"{statistics.median(warm) * 1000:.0f} ms"))
    rows.append(("prompt tokens", str(prompt_tokens)))
    rows.append((f"decode speed (median of {len(speeds)})", f"{statistics.median(speeds):.1f} tokens/s"))
    rows.append(
        ("first token without preflight, warm (median)", f"{await _no_preflight(backend, args):.0f} ms")
    )
    await backend.aclose()
    return rows


async def _no_preflight(backend: object, args: argparse.Namespace) -> float:
    """The same request through a plain Chat Completions backend: what the preflight costs."""
    from massmem.backends.chat_completions import ChatCompletionsBackend

    server = backend.server  # type: ignore[attr-defined]
    plain = ChatCompletionsBackend(model="local", base_url=f"{server.url}/v1", api_key=None)
    firsts: list[float] = []
    for run in range(args.runs):
        request = ModelRequest(
            [SystemMessage("You are helpful."), UserMessage(f"Tell me a story about the lake, part {run}.")],
            max_tokens=8,
        )
        start = time.perf_counter()
        async for event in plain.stream(request):
            if isinstance(event, TextDelta):
                firsts.append(time.perf_counter() - start)
                break
    await plain.aclose()
    return statistics.median(firsts[1:] or firsts) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-ctx", type=int, default=512)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ.setdefault("MASSMEM_HOME", home)
        rows = asyncio.run(measure(args))
    width = max(len(name) for name, _ in rows)
    print(f"{'measure'.ljust(width)}  value")
    print(f"{'-' * width}  -----")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
