"""Hybrid retrieval: dense vectors and BM25 fused, then lifted by conversational context.

One query runs two searches over the same scope — cosine similarity on the embeddings
(top ``pool``) and BM25 on the lexical index (top ``pool``) — and fuses their union:

1. **Score fusion.**  Each signal is z-normalised over the candidate pool and the two are
   averaged.  A candidate found by only one search keeps its real dense similarity (the
   vector is at hand) and a lexical score of zero.  Score fusion keeps *how much* better a
   candidate is, which rank fusion (RRF) throws away.
2. **Neighbouring turns.**  Records written in one call (a turn's messages, in order) share
   a ``batch_id`` and carry a ``seq``.  An answer often sits one message away from the words
   that match the question ("Where did you go?" — "To the lake."), so each record gains a
   share of its best adjacent neighbour's score.
3. **Turn context.**  Each record also gains a share of the mean of the best three scores
   of its batch: a turn that matches the question in several places is more likely to hold
   the answer than a stray match elsewhere.

The weights are few and round (0.5 / 0.5 / 0.4 / 0.4); they were chosen on a sweep over
LoCoMo conversations, where the result was flat around them, not tuned per question.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from massmem.memory.lexical import ScopeClause

if TYPE_CHECKING:
    from massmem.memory.dense_mirror import PointRecord
    from massmem.memory.embedder import Embedder
    from massmem.memory.qdrant_store import Store

__all__ = ["Candidate", "FusionWeights", "fuse", "hybrid_search"]


@dataclass(frozen=True, slots=True)
class FusionWeights:
    dense: float = 0.5
    lexical: float = 0.5
    neighbour: float = 0.4
    group: float = 0.4
    group_top: int = 3
    pool: int = 100


DEFAULT_WEIGHTS = FusionWeights()


@dataclass(slots=True)
class Candidate:
    id: str
    dense: float
    lexical: float = 0.0
    group: str | None = None
    seq: int | None = None


def _zscores(values: Sequence[float]) -> list[float]:
    n = len(values)
    if n == 0:
        return []
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / n
    std = var**0.5
    if std < 1e-12:
        return [0.0] * n
    return [(v - mean) / std for v in values]


def fuse(
    candidates: Sequence[Candidate], weights: FusionWeights = DEFAULT_WEIGHTS
) -> list[tuple[str, float]]:
    """``(id, score)`` for every candidate, best first."""
    if not candidates:
        return []
    dz = _zscores([c.dense for c in candidates])
    lz = _zscores([c.lexical for c in candidates])
    base = [weights.dense * d + weights.lexical * lx for d, lx in zip(dz, lz, strict=True)]
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
    import numpy as np

    if limit <= 0 or not query.strip():
        return []
    vector = embedder.embed_one(query) if query_vector is None else query_vector
    dense = store.dense_search(collection, vector, clauses, weights.pool)
    lexical = store.lexical.search(collection, query, clauses, weights.pool)

    records: dict[str, PointRecord] = {p.id: p for p in dense}
    scored = set(records)
    missing = [pid for pid, _ in lexical if pid not in records]
    if missing:
        for point in store.retrieve(collection, missing, with_vectors=True):
            if point.vector is not None:
                point.score = float(np.dot(point.vector, vector))
                scored.add(point.id)
            records[point.id] = point
    if not records:
        return []
    lexical_score = dict(lexical)
    floor = min((records[i].score for i in scored), default=0.0)
    candidates = []
    for point in records.values():
        seq = point.payload.get("seq")
        candidates.append(
            Candidate(
                id=point.id,
                dense=point.score if point.id in scored else floor,
                lexical=lexical_score.get(point.id, 0.0),
                group=point.payload.get("batch_id"),
                seq=int(seq) if isinstance(seq, int | float) else None,
            )
        )
    ranked = fuse(candidates, weights)[:limit]
    out = []
    for point_id, score in ranked:
        point = records[point_id]
        out.append(type(point)(point.id, point.payload, None, score))
    return out
