"""Qdrant Edge: the Qdrant engine in-process, one shard folder per collection.

Why Edge and not ``qdrant-client``'s local mode: local mode is a Python re-implementation
that unpickles every point on open and scores filters point by point, so its cost grows
with the store (10 s to open and 1.8 s per query at 100k points).  Edge is the server's own
Rust engine — HNSW, a sparse inverted index with IDF, payload indexes, fusion — without the
server: it opens a 100k-point store in well under a second (figures: docs/benchmarks.md).

Indexing.  New points land in an appendable segment, searched by brute force.  Once
:data:`INDEX_EVERY` points have arrived since the last time, :meth:`EdgeEngine.upsert` asks
Edge to optimise, which turns that segment into an HNSW-indexed one.  Each step indexes only
the newest points, so its cost (~4 s on 2 cores) is the same at 100k points as at 10k.
Segments are not merged: merging ten 10k-point segments into three at 100k points made warm
engine queries ~25 % faster but cost merge stalls of up to 6 s, 60 % more peak memory and
worse needle recall (HNSW graphs built over larger segments at this ``ef_construct``), so it
did not pay (docs/benchmarks.md).  Edge's ``optimize`` holds the GIL, so it runs inline, in the
write that crossed the line, never behind a query.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from massmem.errors import MemoryError_
from massmem.memory.bm25 import SPARSE_NAME
from massmem.memory.engine import QUANTILE, Sparse, dense_value
from massmem.memory.points import Equals, PointRecord, ScopeClause, Where, Write, as_record
from massmem.paths import atomic_write_text

__all__ = ["INDEX_EVERY", "EdgeEngine", "safe_collection_name"]

log = logging.getLogger(__name__)

#: new points that make the engine build the HNSW index of the newest segment
INDEX_EVERY = 10_000
#: segments are never merged (see the module docstring)
_SEGMENTS = 64
_META = "massmem-collection.json"
#: 1: float vectors only; 2: indexed segments also hold int8 copies of the vectors
_FORMAT = 2

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_INDEXED_FIELDS = (
    ("agent_id", "Keyword"),
    ("run_id", "Keyword"),
    ("user_id", "Keyword"),
    ("turn", "Integer"),
)


def safe_collection_name(name: str) -> str:
    """``name`` if it can be a folder name; a :class:`MemoryError_` otherwise (never a path)."""
    if not _NAME.match(name) or name in {".", ".."}:
        raise MemoryError_(
            f"the collection name {name!r} cannot be used: use letters, digits, '_', '-' and '.', "
            "starting with a letter or digit (at most 128 characters)"
        )
    return name


class _Shard:
    __slots__ = ("dims", "multi", "pending", "shard")

    def __init__(self, shard: Any, dims: int, multi: bool) -> None:
        self.shard = shard
        self.dims = dims
        self.multi = multi
        self.pending = 0


class EdgeEngine:
    """Collections as Qdrant Edge shards under ``root`` (``root/<collection>/``)."""

    mode = "local"

    def __init__(self, root: Path) -> None:
        import qdrant_edge

        self._qe = qdrant_edge
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._shards: dict[str, _Shard] = {}

    def describe(self) -> str:
        return f"local store {self.root}"

    # -- collections -----------------------------------------------------------------------------

    def collections(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if (p / _META).is_file())

    def _folder(self, name: str) -> Path:
        return self.root / safe_collection_name(name)

    def _meta(self, name: str) -> dict[str, Any] | None:
        meta = self._folder(name) / _META
        if not meta.is_file():
            return None
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
            int(data["dims"])
            return dict(data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MemoryError_(
                f"the collection file {meta} is damaged ({exc}); restore it from a backup"
            ) from exc

    def dims(self, name: str) -> int | None:
        if name in self._shards:
            return self._shards[name].dims
        meta = self._meta(name)
        return None if meta is None else int(meta["dims"])

    def multivector(self, name: str) -> bool:
        return self._open(name).multi

    def _config(self, dims: int, multi: bool) -> Any:
        qe = self._qe
        return qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(
                size=dims,
                distance=qe.Distance.Cosine,
                on_disk=True,  # searches read the int8 copies in RAM; floats only to re-score
                multivector_config=qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim) if multi else None,
            ),
            sparse_vectors={SPARSE_NAME: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            hnsw_config=qe.HnswIndexConfig(m=16, ef_construct=64, full_scan_threshold=10_000),
            quantization_config=qe.ScalarQuantizationConfig(
                qe.ScalarType.Int8, quantile=QUANTILE, always_ram=True
            ),
            optimizers=qe.EdgeOptimizersConfig(default_segment_number=_SEGMENTS, indexing_threshold=1_000),
        )

    def create(self, name: str, dims: int) -> None:
        if self.dims(name) is not None:
            self._open(name)
            return
        folder = self._folder(name)
        if folder.exists():  # a half-made collection (no metadata): start it again
            shutil.rmtree(folder)
        qe = self._qe
        shard = qe.EdgeShard.create(str(folder), self._config(dims, multi=True))
        for field_name, kind in _INDEXED_FIELDS:
            shard.update(
                qe.UpdateOperation.create_field_index(field_name, getattr(qe.PayloadSchemaType, kind))
            )
        self._write_meta(name, dims, multi=True)
        self._shards[name] = _Shard(shard, dims, multi=True)

    def _write_meta(self, name: str, dims: int, *, multi: bool) -> None:
        meta = self._folder(name) / _META
        atomic_write_text(meta, json.dumps({"dims": dims, "format": _FORMAT, "multivector": multi}))

    def _open(self, name: str) -> _Shard:
        entry = self._shards.get(name)
        if entry is not None:
            return entry
        meta = self._meta(name)
        if meta is None:
            raise MemoryError_(f"the memory collection {name!r} does not exist")
        dims, multi = int(meta["dims"]), bool(meta.get("multivector", False))
        try:  # this version's settings (indexing, merging) apply to shards made by an older one
            shard = self._qe.EdgeShard.load(str(self._folder(name)), self._config(dims, multi))
        except Exception as exc:
            raise MemoryError_(
                f"could not open the memory collection {name!r} in {self.root}: {exc}"
            ) from exc
        entry = self._shards[name] = _Shard(shard, dims, multi)
        if int(meta.get("format", 1)) < _FORMAT:
            self._upgrade(name, entry)
        return entry

    def _upgrade(self, name: str, entry: _Shard) -> None:
        """Give a collection made by an earlier massmem its int8 vectors (once; ~10 s at 100k points).

        The optimiser writes int8 copies (kept in RAM) and moves the float vectors to memory-mapped
        files: opening a 100k-point store then takes ~0.2 GB of RAM instead of ~0.7 GB.  Until
        then its searches score every float vector, ~30 % slower; nothing else changes, so a
        failure here only leaves the collection slower and is tried again next time.  (Its points
        keep one vector each: sentence vectors come with collections made from now on.)
        """
        count = entry.shard.info().points_count
        log.warning("memory: preparing the faster index of %s (%d records, once)...", name, count)
        try:
            entry.shard.optimize()
            entry.shard.flush()
        except Exception:
            log.warning("memory: preparing the faster index failed; searches stay slower", exc_info=True)
            return
        self._write_meta(name, entry.dims, multi=entry.multi)

    def backfill_sparse(self, name: str, encode: Any) -> int:
        """Nothing to do: every point written here (or converted into here) has its BM25 vector."""
        return 0

    def drop(self, name: str) -> None:
        entry = self._shards.pop(name, None)
        if entry is not None:
            with contextlib.suppress(Exception):
                entry.shard.close()
        folder = self._folder(name)
        if folder.exists():
            shutil.rmtree(folder)

    # -- writes ----------------------------------------------------------------------------------

    def upsert(self, name: str, writes: Sequence[Write], sparse: Sequence[Sparse | None]) -> None:
        qe = self._qe
        entry = self._open(name)
        points = []
        for write, bm25 in zip(writes, sparse, strict=True):
            vectors: dict[str, Any] = {"": dense_value(write.vector, entry.multi)}
            if bm25 is not None:
                vectors[SPARSE_NAME] = qe.SparseVector(bm25[0], bm25[1])
            points.append(qe.Point(write.id, vectors, write.payload))
        if not points:
            return
        entry.shard.update(qe.UpdateOperation.upsert_points(points))
        entry.pending += len(points)
        if entry.pending >= INDEX_EVERY:
            self._index(entry)

    def _index(self, entry: _Shard) -> None:
        entry.pending = 0
        try:
            entry.shard.optimize()
        except Exception:  # the data is written; searching it unindexed is only slower
            log.warning("building the memory index failed; searches stay exact but slower", exc_info=True)

    def set_payload(self, name: str, point_id: str, payload: dict[str, Any]) -> None:
        self._open(name).shard.update(self._qe.UpdateOperation.set_payload([point_id], payload))

    def delete(self, name: str, ids: Sequence[str]) -> None:
        if ids:
            self._open(name).shard.update(self._qe.UpdateOperation.delete_points(list(ids)))

    # -- reads -----------------------------------------------------------------------------------

    def retrieve(self, name: str, ids: Sequence[str], *, with_vectors: bool = False) -> list[PointRecord]:
        if not ids:
            return []
        found = self._open(name).shard.retrieve(list(ids), with_payload=True, with_vector=with_vectors)
        return [as_record(p, with_vectors) for p in found]

    def scroll(
        self, name: str, where: Where, limit: int, offset: Any = None, *, with_vectors: bool = False
    ) -> tuple[list[PointRecord], Any]:
        flt = self._filter(where)
        if flt is _NOTHING:
            return [], None
        qe = self._qe
        points, next_offset = self._open(name).shard.scroll(
            qe.ScrollRequest(
                offset=offset, limit=limit, filter=flt, with_payload=True, with_vector=with_vectors
            )
        )
        return [as_record(p, with_vectors) for p in points], next_offset

    def count(self, name: str, where: Where = None) -> int:
        flt = self._filter(where)
        if flt is _NOTHING:
            return 0
        return int(self._open(name).shard.count(self._qe.CountRequest(exact=True, filter=flt)))

    def query(
        self,
        name: str,
        *,
        dense: Sequence[float] | None,
        sparse: Sparse | None,
        where: Where,
        limit: int,
        prefetch: int | None = None,
        with_vectors: bool = False,
        fields: Sequence[str] | None = None,
    ) -> list[PointRecord]:
        flt = self._filter(where)
        if flt is _NOTHING or limit <= 0 or (dense is None and sparse is None):
            return []
        qe = self._qe
        entry = self._open(name)
        payload: Any = True if fields is None else qe.PayloadSelector.Include(list(fields))
        searches = []
        if dense is not None:
            searches.append(qe.Query.Nearest(dense_value(dense, entry.multi)))
        if sparse is not None:
            searches.append(qe.Query.Nearest(qe.SparseVector(sparse[0], sparse[1]), using=SPARSE_NAME))
        if len(searches) == 1:
            request = qe.QueryRequest(
                limit=limit, query=searches[0], filter=flt, with_payload=payload, with_vector=with_vectors
            )
        else:
            request = qe.QueryRequest(
                limit=limit,
                prefetches=[
                    qe.Prefetch(limit=max(limit, prefetch or 0), query=s, filter=flt) for s in searches
                ],
                query=qe.Fusion.Dbsf(),
                with_payload=payload,
                with_vector=with_vectors,
            )
        hits = entry.shard.query(request)
        return [as_record(h, with_vectors, float(h.score)) for h in hits]

    def _filter(self, where: Where) -> Any:
        if where is None:
            return None
        qe = self._qe
        if isinstance(where, Equals):
            must = []
            for key, value in where.fields.items():
                if isinstance(value, list | tuple):
                    must.append(qe.FieldCondition(key=key, match=qe.MatchAny(list(value))))
                else:
                    must.append(qe.FieldCondition(key=key, match=qe.MatchValue(value)))
            return qe.Filter(must=must) if must else None
        if not where:
            return _NOTHING
        parts = [self._clause(c) for c in where]
        return parts[0] if len(parts) == 1 else qe.Filter(should=parts)

    def _clause(self, clause: ScopeClause) -> Any:
        qe = self._qe
        must = [qe.FieldCondition(key="agent_id", match=qe.MatchValue(clause.agent_id))]
        if clause.session is not None:
            must.append(qe.FieldCondition(key="run_id", match=qe.MatchValue(clause.session)))
        if clause.max_turn is not None:
            must.append(qe.FieldCondition(key="turn", range=qe.RangeFloat(lte=float(clause.max_turn))))
        return qe.Filter(must=must)

    # -- lifecycle -------------------------------------------------------------------------------

    def flush(self) -> None:
        for entry in self._shards.values():
            entry.shard.flush()

    def close(self) -> None:
        shards, self._shards = self._shards, {}
        for entry in shards.values():
            with contextlib.suppress(Exception):
                entry.shard.flush()
            with contextlib.suppress(Exception):
                entry.shard.close()


_NOTHING = object()
