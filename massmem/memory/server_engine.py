"""A Qdrant server through ``qdrant-client``: the scale-out engine (``docker-compose.qdrant.yml``).

Same layout and the same single fused query as the in-process engine: the dense and BM25
prefetches go to the server in one Query API request and are fused there (DBSF).  Nothing is
cached here, so several processes or machines writing to one server all rank with the same
index, and a point another process wrote is in the next answer.

The class takes any ``QdrantClient``: tests drive this exact code through ``qdrant-client``'s
in-memory mode, which implements the same Query API (everything but the socket).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence
from typing import Any

from massmem.memory.bm25 import SPARSE_NAME
from massmem.memory.engine import QUANTILE, Sparse, dense_value
from massmem.memory.points import Equals, PointRecord, ScopeClause, Where, Write, as_record

__all__ = ["ServerEngine"]

_INDEXED_FIELDS = (
    ("agent_id", "keyword"),
    ("run_id", "keyword"),
    ("user_id", "keyword"),
    ("turn", "integer"),
)


class ServerEngine:
    """Collections on a Qdrant server (or any ``QdrantClient``)."""

    mode = "server"

    def __init__(self, client: Any, address: str) -> None:
        self.client = client
        self.address = address
        self._multi: dict[str, bool] = {}

    def describe(self) -> str:
        return f"Qdrant server {self.address}"

    def collections(self) -> list[str]:
        return sorted(c.name for c in self.client.get_collections().collections)

    def dims(self, name: str) -> int | None:
        if not self.client.collection_exists(name):
            return None
        vectors = self.client.get_collection(name).config.params.vectors
        if isinstance(vectors, dict):
            vectors = vectors.get("")
        size = getattr(vectors, "size", None)
        return int(size) if size is not None else None

    def multivector(self, name: str) -> bool:
        if name not in self._multi:
            vectors = self.client.get_collection(name).config.params.vectors
            if isinstance(vectors, dict):
                vectors = vectors.get("")
            self._multi[name] = getattr(vectors, "multivector_config", None) is not None
        return self._multi[name]

    def create(self, name: str, dims: int) -> None:
        from qdrant_client import models

        if self.client.collection_exists(name):
            return
        self.client.create_collection(
            collection_name=name,
            vectors_config=models.VectorParams(
                size=dims,
                distance=models.Distance.COSINE,
                on_disk=True,  # as the embedded engine: int8 copies in RAM, floats to re-score
                multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM),
            ),
            sparse_vectors_config={SPARSE_NAME: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            # the same int8 copies the embedded engine keeps (edge_engine.py): faster searches
            quantization_config=models.ScalarQuantization(
                scalar=models.ScalarQuantizationConfig(
                    type=models.ScalarType.INT8, quantile=QUANTILE, always_ram=True
                )
            ),
        )
        for field_name, schema in _INDEXED_FIELDS:
            with contextlib.suppress(Exception), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # in-memory mode says payload indexes have no effect
                self.client.create_payload_index(name, field_name=field_name, field_schema=schema)

    def backfill_sparse(self, name: str, encode: Any, page: int = 256) -> int:
        """Give BM25 vectors to points written without one (by an earlier massmem); how many.

        Points whose text has no indexable word stay without one, and are looked at again on
        the next open; that costs one filtered scroll.
        """
        from qdrant_client import models

        missing = models.Filter(must_not=[models.HasVectorCondition(has_vector=SPARSE_NAME)])
        filled = 0
        offset = None
        while True:
            points, offset = self.client.scroll(
                name, scroll_filter=missing, limit=page, offset=offset, with_payload=True, with_vectors=False
            )
            records = [as_record(p, False) for p in points]
            texts = [str(r.payload.get("text_lemmatized") or r.payload.get("data") or "") for r in records]
            updates = [
                models.PointVectors(
                    id=r.id, vector={SPARSE_NAME: models.SparseVector(indices=v[0], values=v[1])}
                )
                for r, v in zip(records, encode(texts), strict=True)
                if v is not None
            ]
            if updates:
                self.client.update_vectors(collection_name=name, points=updates, wait=True)
                filled += len(updates)
            if offset is None:
                return filled

    def drop(self, name: str) -> None:
        self._multi.pop(name, None)
        if self.client.collection_exists(name):
            self.client.delete_collection(name)

    def upsert(self, name: str, writes: Sequence[Write], sparse: Sequence[Sparse | None]) -> None:
        from qdrant_client import models

        multi = self.multivector(name)
        points = []
        for write, bm25 in zip(writes, sparse, strict=True):
            vectors: dict[str, Any] = {"": dense_value(write.vector, multi)}
            if bm25 is not None:
                vectors[SPARSE_NAME] = models.SparseVector(indices=bm25[0], values=bm25[1])
            points.append(models.PointStruct(id=write.id, vector=vectors, payload=write.payload))
        if points:
            self.client.upsert(collection_name=name, points=points, wait=True)

    def set_payload(self, name: str, point_id: str, payload: dict[str, Any]) -> None:
        self.client.set_payload(collection_name=name, payload=payload, points=[point_id], wait=True)

    def delete(self, name: str, ids: Sequence[str]) -> None:
        from qdrant_client import models

        if ids:
            self.client.delete(name, points_selector=models.PointIdsList(points=list(ids)), wait=True)

    def retrieve(self, name: str, ids: Sequence[str], *, with_vectors: bool = False) -> list[PointRecord]:
        if not ids:
            return []
        found = self.client.retrieve(name, ids=list(ids), with_payload=True, with_vectors=with_vectors)
        return [as_record(p, with_vectors) for p in found]

    def scroll(
        self, name: str, where: Where, limit: int, offset: Any = None, *, with_vectors: bool = False
    ) -> tuple[list[PointRecord], Any]:
        flt = _filter(where)
        if flt is _NOTHING:
            return [], None
        points, next_offset = self.client.scroll(
            name, scroll_filter=flt, limit=limit, offset=offset, with_payload=True, with_vectors=with_vectors
        )
        return [as_record(p, with_vectors) for p in points], next_offset

    def count(self, name: str, where: Where = None) -> int:
        flt = _filter(where)
        if flt is _NOTHING:
            return 0
        return int(self.client.count(name, count_filter=flt, exact=True).count)

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
        from qdrant_client import models

        flt = _filter(where)
        if flt is _NOTHING or limit <= 0 or (dense is None and sparse is None):
            return []
        searches: list[tuple[Any, str | None]] = []
        if dense is not None:
            searches.append((dense_value(dense, self.multivector(name)), None))
        if sparse is not None:
            searches.append((models.SparseVector(indices=sparse[0], values=sparse[1]), SPARSE_NAME))
        payload: Any = True if fields is None else list(fields)
        if len(searches) == 1:
            query, using = searches[0]
            response = self.client.query_points(
                collection_name=name,
                query=query,
                using=using,
                query_filter=flt,
                limit=limit,
                with_payload=payload,
                with_vectors=with_vectors,
            )
        else:
            response = self.client.query_points(
                collection_name=name,
                prefetch=[
                    models.Prefetch(query=q, using=u, filter=flt, limit=max(limit, prefetch or 0))
                    for q, u in searches
                ],
                query=models.FusionQuery(fusion=models.Fusion.DBSF),
                limit=limit,
                with_payload=payload,
                with_vectors=with_vectors,
            )
        return [as_record(h, with_vectors, float(h.score)) for h in response.points]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()


_NOTHING = object()


def _filter(where: Where) -> Any:
    if where is None:
        return None
    from qdrant_client import models

    if isinstance(where, Equals):
        must: list[Any] = []
        for key, value in where.fields.items():
            if isinstance(value, list | tuple):
                must.append(models.FieldCondition(key=key, match=models.MatchAny(any=list(value))))
            else:
                must.append(models.FieldCondition(key=key, match=models.MatchValue(value=value)))
        return models.Filter(must=must) if must else None
    if not where:
        return _NOTHING
    parts = [_clause(c) for c in where]
    return parts[0] if len(parts) == 1 else models.Filter(should=parts)


def _clause(clause: ScopeClause) -> Any:
    from qdrant_client import models

    must: list[Any] = [models.FieldCondition(key="agent_id", match=models.MatchValue(value=clause.agent_id))]
    if clause.session is not None:
        must.append(models.FieldCondition(key="run_id", match=models.MatchValue(value=clause.session)))
    if clause.max_turn is not None:
        must.append(models.FieldCondition(key="turn", range=models.Range(lte=clause.max_turn)))
    return models.Filter(must=must)
