"""Cutting one embedding call into forward passes of least total cost.

Both local runtimes (torch in :mod:`massmem.memory.embedder`, int8 ONNX Runtime in
:mod:`massmem.memory.onnx_minilm`) pay for a forward pass a fixed amount plus an amount
per *padded* token, so the best batches are neither one text (the fixed cost dominates)
nor one big batch (short texts padded to the longest).  The plan lives here, apart from
either runtime, so neither has to import the other to share it.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["TORCH_FIXED_COST_US", "plan_batches", "spread_batches"]

#: cost model of one forward pass on a CPU, in microseconds (measured on 2 EPYC cores,
#: bf16 torch; only the ratio matters: a batch is worth ~70 tokens of padding)
TORCH_FIXED_COST_US = 4000.0
_TOKEN_COST_US = 55.0


def plan_batches(
    lengths: Sequence[int], max_batch: int, *, fixed_cost_us: float = TORCH_FIXED_COST_US
) -> list[tuple[int, int]]:
    """Cut texts sorted by ascending token length into batches of least total cost.

    Each batch costs a fixed amount plus a per-token amount for every row padded to the
    batch's longest text; a small dynamic programme over the cut points finds the
    cheapest split.  Returns ``(start, stop)`` index pairs into ``lengths``.
    """
    count = len(lengths)
    best = [0.0] + [float("inf")] * count
    cut = [0] * (count + 1)
    for stop in range(1, count + 1):
        longest = lengths[stop - 1]
        for start in range(max(0, stop - max_batch), stop):
            cost = best[start] + fixed_cost_us + _TOKEN_COST_US * (stop - start) * longest
            if cost < best[stop]:
                best[stop], cut[stop] = cost, start
    batches: list[tuple[int, int]] = []
    stop = count
    while stop > 0:
        batches.append((cut[stop], stop))
        stop = cut[stop]
    return batches[::-1]


def spread_batches(
    batches: Sequence[tuple[int, int]], lengths: Sequence[int], workers: int
) -> list[tuple[int, int]]:
    """``batches`` cut further until there is one for each of ``workers`` (where rows allow).

    The cheapest plan for a handful of similar texts is often one batch, which one core runs
    while the others wait: recording a turn embeds a few texts at a time, so on two cores
    that left half the machine idle.  Halving the batch with the most padded tokens costs one
    more fixed cost but runs the halves side by side.
    """
    out = list(batches)
    while len(out) < workers:
        splittable = [b for b in out if b[1] - b[0] > 1]
        if not splittable:
            break
        widest = max(splittable, key=lambda b: (b[1] - b[0]) * lengths[b[1] - 1])
        middle = (widest[0] + widest[1] + 1) // 2
        index = out.index(widest)
        out[index : index + 1] = [(widest[0], middle), (middle, widest[1])]
    return out
