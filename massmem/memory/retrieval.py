"""Hybrid retrieval: one fused engine query, then lifted by conversational context.

1. **One engine query.**  The store asks its Qdrant engine for the top ``pool`` points of the
   scope by cosine similarity and by BM25 in one request; the engine fuses the two lists by
   distribution-based score fusion (each list's scores normalised by its mean and spread,
   then summed), which keeps *how much* better a candidate is, as rank fusion would not.
2. **Neighbouring turns.**  Records written in one call (a turn's messages, in order) share
   a ``batch_id`` and carry a ``seq``.  An answer often sits one message away from the words
   that match the question ("Where did you go?" — "To the lake."), so each record gains a
   share of its best adjacent neighbour's score.
3. **Turn context.**  Each record also gains a share of the mean of the best three scores
   of its batch: a turn that matches the question in several places is more likely to hold
   the answer than a stray match elsewhere.

The prefetch depth and the shares (``neighbour``, ``group``) were chosen by leave-one-conversation-out
on the LoCoMo dev conversations (``scripts/bench_retrieval.py --loco``), not by the overall dev score:
every fold chose a prefetch of 400; the shares are the median of the folds' choices (0.6, 0.8).
With sentence vectors (2026-12-02) held-out recall@10 is 0.765 with these shares; the folds'
median moved to (0.6, 1.0), which scores 0.768 against 0.766 on all five, within noise, so
the shares stayed (docs/benchmarks.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from massmem.memory.points import ScopeClause

if TYPE_CHECKING:
    from massmem.memory.embedder import Embedder
    from massmem.memory.points import PointRecord
    from massmem.memory.qdrant_store import Store

__all__ = [
    "DEFAULT_WEIGHTS",
    "RANKING_FIELDS",
    "Candidate",
    "FusionWeights",
    "candidates",
    "fuse",
    "hybrid_search",
]


#: the payload keys re-ranking reads
RANKING_FIELDS = ("batch_id", "seq")


@dataclass(frozen=True, slots=True)
class FusionWeights:
    neighbour: float = 0.6
    group: float = 0.8
    group_top: int = 3
    pool: int = 100
    prefetch: int = 400


DEFAULT_WEIGHTS = FusionWeights()


@dataclass(slots=True)
class Candidate:
    id: str
    score: float
    group: str | None = None
    seq: int | None = None


def fuse(
    candidates: Sequence[Candidate], weights: FusionWeights = DEFAULT_WEIGHTS
) -> list[tuple[str, float]]:
    """``(id, score)`` for every candidate (engine-fused scores lifted by context), best first."""
    if not candidates:
        return []
    base = [c.score for c in candidates]
    floor = min(base)
    base = [b - floor for b in base]

    by_position: dict[tuple[str, int], float] = {}
    by_group: dict[str, list[float]] = defaultdict(list)
    for cand, score in zip(candidates, base, strict=True):
        if cand.group is not None:
            by_group[cand.group].append(score)
            if cand.seq is not None:
                by_position[(cand.group, cand.seq)] = score
    group_score = {}
    for group, scores in by_group.items():
        top = sorted(scores, reverse=True)[: weights.group_top]
        group_score[group] = sum(top) / weights.group_top

    out: list[tuple[str, float]] = []
    for cand, score in zip(candidates, base, strict=True):
        total = score
        if cand.group is not None:
            if cand.seq is not None and weights.neighbour:
                left = by_position.get((cand.group, cand.seq - 1), 0.0)
                right = by_position.get((cand.group, cand.seq + 1), 0.0)
                total += weights.neighbour * max(left, right)
            total += weights.group * group_score.get(cand.group, 0.0)
        out.append((cand.id, total))
    out.sort(key=lambda item: item[1], reverse=True)
    return out


def candidates(
    store: Store,
    collection: str,
    vector: Any,
    query: str,
    clauses: Sequence[ScopeClause] | None,
    pool: int,
    prefetch: int | None = None,
    fields: Sequence[str] = RANKING_FIELDS,
) -> tuple[list[PointRecord], list[Candidate]]:
    """The engine's fused top ``pool`` for ``query`` and the same points as re-ranking input.

    The points carry only the payload keys in ``fields`` (by default what re-ranking reads):
    the caller fetches the whole payload of the few it keeps.
    """
    points = store.query(
        collection,
        vector=vector,
        text=query,
        where=clauses,
        limit=pool,
        prefetch=prefetch,
        fields=fields,
    )
    out = []
    for point in points:
        seq = point.payload.get("seq")
        out.append(
            Candidate(
                id=point.id,
                score=point.score,
                group=point.payload.get("batch_id"),
                seq=int(seq) if isinstance(seq, int | float) else None,
            )
        )
    return points, out


def hybrid_search(
    store: Store,
    collection: str,
    embedder: Embedder,
    query: str,
    clauses: Sequence[ScopeClause] | None,
    limit: int,
    weights: FusionWeights = DEFAULT_WEIGHTS,
    *,
    query_vector: Any = None,
) -> list[PointRecord]:
    """The best ``limit`` points of ``collection`` within ``clauses`` for ``query``."""
    if limit <= 0 or not query.strip():
        return []
    vector = embedder.embed_one(query) if query_vector is None else query_vector
    _, pool = candidates(
        store, collection, vector, query, clauses, max(weights.pool, limit), weights.prefetch
    )
    best = fuse(pool, weights)[:limit]
    full = {p.id: p for p in store.retrieve(collection, [point_id for point_id, _ in best])}
    out = []
    for point_id, score in best:
        point = full.get(point_id)
        if point is not None:  # deleted between the two calls
            out.append(type(point)(point.id, point.payload, None, score))
    return out
