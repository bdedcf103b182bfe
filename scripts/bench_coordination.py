"""Orchestrator overhead per agent action, over zero-latency scripted backends.

Every agent plays ``cycles`` rounds of "give a new answer, then vote"; the backends answer
instantly, so what remains of the wall time is the team loop itself: parsing actions,
updating the state, rendering prompts, scheduling tasks and streaming events.

    overhead per action = (run wall time − time spent inside backends) / model calls

Usage: ``python scripts/bench_coordination.py [--repeat 7] [--agents 2 5 10] [--cycles 1 3]``.
The headline row is 10 agents × 3 cycles; the goal is ≤ 2 ms per action.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass

from massmem.agents import Agent
from massmem.backends.scripted import AnswerReply, Reply, ScriptedBackend, VoteReply
from massmem.config.schema import OrchestratorConfig
from massmem.coordination import Orchestrator

QUESTION = "Summarise the trade-offs of optimistic concurrency control in three sentences."


@dataclass(frozen=True)
class Sample:
    actions: int
    answers: int
    events: int
    total_s: float
    backend_s: float

    @property
    def per_action_ms(self) -> float:
        return (self.total_s - self.backend_s) / self.actions * 1000


def team(agents: int, cycles: int) -> list[Agent]:
    """``agents`` agents, each scripted to answer then vote, ``cycles`` times over."""
    members = []
    for i in range(agents):
        script: list[Reply] = []
        for cycle in range(cycles):
            body = (
                f"Answer {cycle + 1} from member {i + 1}: "
                + "optimistic concurrency trades aborts for locks. " * 8
            )
            script += [AnswerReply(body), VoteReply("agent1", "clear and complete")]
        members.append(Agent(f"member-{i + 1}", ScriptedBackend(script)))
    return members


async def measure(agents: int, cycles: int) -> Sample:
    members = team(agents, cycles)
    # Caps high enough that every script plays out; the loop, not a limit, decides the end.
    config = OrchestratorConfig(max_turns_per_agent=200, timeout=600)
    events = 0

    def count(_: object) -> None:
        nonlocal events
        events += 1

    started = time.perf_counter()
    result = await Orchestrator(members, config).run(QUESTION, on_event=count)
    total = time.perf_counter() - started
    backend = sum(m.backend_seconds for m in members)
    actions = result.calls + (1 if result.presented else 0)
    return Sample(
        actions=actions, answers=len(result.answers), events=events, total_s=total, backend_s=backend
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[2, 5, 10])
    parser.add_argument("--cycles", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--repeat", type=int, default=7, help="runs per row; the median is shown")
    args = parser.parse_args()

    header = f"{'agents':>6} {'cycles':>6} {'answers':>7} {'actions':>8} {'events':>7} {'total ms':>9} {'backend ms':>10} {'per-action ms':>13}"
    print(header)
    print("-" * len(header))
    for agents in args.agents:
        for cycles in args.cycles:
            asyncio.run(measure(agents, cycles))  # warm-up: imports, template cache
            samples = [asyncio.run(measure(agents, cycles)) for _ in range(args.repeat)]
            median = sorted(samples, key=lambda s: s.per_action_ms)[len(samples) // 2]
            spread = statistics.pstdev(s.per_action_ms for s in samples)
            print(
                f"{agents:>6} {cycles:>6} {median.answers:>7} {median.actions:>8} {median.events:>7} {median.total_s * 1000:>9.1f} "
                f"{median.backend_s * 1000:>10.1f} {median.per_action_ms:>9.3f} ±{spread:.3f}"
            )
    print("\nper-action ms = (total − backend) / actions; goal ≤ 2 ms for 10 agents × 3 cycles")


if __name__ == "__main__":
    main()
