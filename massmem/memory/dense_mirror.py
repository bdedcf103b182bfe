"""An in-memory mirror of one collection's vectors and filter fields, searched with numpy.

Local Qdrant evaluates payload filters point by point in Python, which costs ~15 ms per
filtered query on a few hundred points; :class:`DenseMirror` does the same brute-force
search with numpy masks in well under a millisecond.  Qdrant stays the store of record:
the :class:`~massmem.memory.qdrant_store.Store` fills the mirror from it and updates it on
every write.  numpy is imported inside the methods, so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from massmem.memory.lexical import ScopeClause

if TYPE_CHECKING:
    import numpy as np

__all__ = ["DenseMirror", "PointRecord"]


@dataclass(slots=True)
class PointRecord:
    """A point as retrieval sees it."""

    id: str
    payload: dict[str, Any]
    vector: Any = None  # np.ndarray | None
    score: float = 0.0


class DenseMirror:
    """All vectors and filter fields of one collection, for fast filtered brute-force search."""

    def __init__(self, dims: int) -> None:
        import numpy as np

        self.dims = dims
        self._vectors = np.zeros((64, dims), dtype=np.float32)
        self._agent = np.full(64, -1, dtype=np.int32)
        self._session = np.full(64, -1, dtype=np.int32)
        self._turn = np.full(64, np.nan, dtype=np.float64)
        self._alive = np.zeros(64, dtype=bool)
        self._size = 0
        self._row: dict[str, int] = {}
        self._ids: list[str] = []
        self._payloads: list[dict[str, Any]] = []
        self._codes: dict[str, int] = {}

    def __len__(self) -> int:
        return int(self._alive[: self._size].sum())

    def _code(self, value: Any) -> int:
        if value is None:
            return -1
        key = str(value)
        code = self._codes.get(key)
        if code is None:
            code = self._codes[key] = len(self._codes)
        return code

    def _grow(self, need: int) -> None:
        import numpy as np

        cap = len(self._alive)
        if need <= cap:
            return
        new = max(need, cap * 2)
        vectors = np.zeros((new, self.dims), dtype=np.float32)
        vectors[:cap] = self._vectors
        self._vectors = vectors
        self._agent = np.concatenate([self._agent, np.full(new - cap, -1, dtype=np.int32)])
        self._session = np.concatenate([self._session, np.full(new - cap, -1, dtype=np.int32)])
        self._turn = np.concatenate([self._turn, np.full(new - cap, np.nan)])
        self._alive = np.concatenate([self._alive, np.zeros(new - cap, dtype=bool)])

    def upsert(self, ids: Sequence[str], vectors: Any, payloads: Sequence[dict[str, Any]]) -> None:
        import numpy as np

        raw = np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        matrix = (raw / np.where(norms == 0, 1.0, norms)).astype(np.float32)
        self._grow(self._size + len(ids))
        for point_id, vector, payload in zip(ids, matrix, payloads, strict=True):
            key = str(point_id)
            row = self._row.get(key)
            if row is None:
                row = self._size
                self._size += 1
                self._row[key] = row
                self._ids.append(key)
                self._payloads.append(payload)
            else:
                self._payloads[row] = payload
            self._vectors[row] = vector
            self._agent[row] = self._code(payload.get("agent_id"))
            self._session[row] = self._code(payload.get("run_id"))
            turn = payload.get("turn")
            self._turn[row] = float(turn) if isinstance(turn, int | float) else np.nan
            self._alive[row] = True

    def delete(self, ids: Sequence[str]) -> None:
        for point_id in ids:
            row = self._row.get(str(point_id))
            if row is not None:
                self._alive[row] = False

    def get(self, point_id: str) -> PointRecord | None:
        row = self._row.get(str(point_id))
        if row is None or not self._alive[row]:
            return None
        return PointRecord(self._ids[row], self._payloads[row], self._vectors[row])

    def _mask(self, clauses: Sequence[ScopeClause] | None) -> np.ndarray:
        import numpy as np

        n = self._size
        alive = self._alive[:n]
        if clauses is None:
            return alive.copy()
        mask = np.zeros(n, dtype=bool)
        for clause in clauses:
            code = self._codes.get(clause.agent_id)
            if code is None:
                continue
            part = self._agent[:n] == code
            if clause.session is not None:
                scode = self._codes.get(clause.session)
                if scode is None:
                    continue
                part &= self._session[:n] == scode
            if clause.max_turn is not None:
                with np.errstate(invalid="ignore"):
                    part &= self._turn[:n] <= clause.max_turn
            mask |= part
        return mask & alive

    def search(
        self, query: np.ndarray, clauses: Sequence[ScopeClause] | None, limit: int
    ) -> list[PointRecord]:
        import numpy as np

        rows = np.flatnonzero(self._mask(clauses))
        if rows.size == 0 or limit <= 0:
            return []
        scores = self._vectors[rows] @ np.asarray(query, dtype=np.float32)
        top = np.argpartition(-scores, limit - 1)[:limit] if rows.size > limit else np.arange(rows.size)
        top = top[np.argsort(-scores[top], kind="stable")]
        return [
            PointRecord(self._ids[rows[i]], self._payloads[rows[i]], self._vectors[rows[i]], float(scores[i]))
            for i in top
        ]
